"""``python benchmarks/run.py``: the same as ``python -m benchmarks``, from a file path."""

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a file, the package's parent is not on the path: put it there.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    runpy.run_module("benchmarks", run_name="__main__", alter_sys=True)
