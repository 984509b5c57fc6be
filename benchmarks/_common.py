"""Constants and helpers every part of the benchmarks uses, child processes included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "FIRST_ID", "LOCK_BODY", "MODULE", "OK_BODY", "REASON", "ROOT", "child_env", "client_env",
    "max_in_window", "python", "record_ids", "run_child",
]  # fmt: skip

ROOT = Path(__file__).resolve().parents[1]
MODULE = "Deals"
REASON = "benchmark"
#: Ids shaped like Zoho's (19 digits), in a range the fake org does not generate itself.
FIRST_ID = 5843104000100000001
#: What the library sends to lock a record (the raw baseline sends the same bytes).
LOCK_BODY = json.dumps({"data": [{"Locked_Reason__s": REASON}]}).encode()
#: Zoho's answer to a lock, compact: the sample the tests use.
OK_BODY = json.dumps(
    json.loads((ROOT / "tests/samples/lock/201.json").read_text()), separators=(",", ":")
).encode()
#: Seconds a client process may take before it counts as hung.
CHILD_TIMEOUT = 600.0


def record_ids(count: int, start: int = FIRST_ID) -> Iterator[str]:
    """Yield *count* distinct record ids from *start*, lazily."""
    return (str(start + offset) for offset in range(count))


def max_in_window(times: Sequence[float], seconds: float = 1.0) -> int:
    """The most moments of sorted *times* inside any half-open window ``[t, t + seconds)``."""
    best = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def python(module: str, *args: str) -> list[str]:
    """The command line running ``python -m module args``."""
    return [sys.executable, "-m", module, *args]


def child_env() -> dict[str, str]:
    """This environment with this checkout first on the path."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def client_env(token: str, limit_store: Path | None = None) -> dict[str, str]:
    """A CLI process's environment: *token*, this checkout, none of the caller's Zoho settings."""
    env = {key: value for key, value in child_env().items() if not key.startswith("ZOHO_")}
    env["ZOHO_ACCESS_TOKEN"] = token
    if limit_store is not None:
        env["ZOHO_LIMIT_STORE"] = str(limit_store)
    return env


def run_child(
    args: Sequence[str], env: dict[str, str] | None = None, *, check: bool = True
) -> tuple[int, tuple[float, float], str]:
    """Run one process; return its exit code, start and end (``time.monotonic()``), stdout.

    ``time.monotonic()`` is the clock of the server's event loop, which stamps arrivals, so
    the two compare directly. With *check*, an exit code other than 0 or 1 raises.
    """
    started = time.monotonic()
    process = subprocess.Popen(
        args, cwd=ROOT, env=env or child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=CHILD_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    ended = time.monotonic()
    if check and process.returncode not in (0, 1):
        name = " ".join(args[1:4])
        raise RuntimeError(f"{name} exited {process.returncode}: {err.strip()[-2000:]}")
    return process.returncode, (started, ended), out
