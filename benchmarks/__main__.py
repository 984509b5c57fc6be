"""``python -m benchmarks``: run every benchmark (``--help`` for options)."""

import sys

from .runner import main

sys.exit(main())
