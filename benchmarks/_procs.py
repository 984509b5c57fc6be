"""Processes shared by the benchmarks that print a section: the server, clients, git.

`benchmarks.first_second` and `benchmarks.where` both drive the fake CRM in a
process of its own (`Server`, over ``benchmarks/_server.py``'s pipes, org limit
`ORG_LIMIT` in flight, `LATENCY` per answer) and time client processes against it
(`run_child`, `client_env`); every runner notes the commit it measured
(`git_commit`, `git_dirty`).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import FIRST_ID

__all__ = [
    "CHILD_TIMEOUT",
    "LATENCY",
    "ORG_LIMIT",
    "ROOT",
    "Server",
    "Times",
    "client_env",
    "git_commit",
    "git_dirty",
    "run_child",
]

ROOT = Path(__file__).resolve().parents[1]
ORG_LIMIT = 20
LATENCY = 0.05
#: Seconds a single client process may take before it counts as hung.
CHILD_TIMEOUT = 300.0

#: A client process's start and end, ``time.monotonic()``.
Times = tuple[float, float]


class Server:
    """The fake CRM in its own process (`benchmarks._server`), driven over its pipes.

    As a context manager, it closes the process on the way out.
    """

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env,
        )  # fmt: skip
        self._cpu_at_reset = 0.0
        try:
            hello = self._read(30.0)
        except BaseException:
            self._kill()
            raise
        self.url: str = hello["url"]
        self.token: str = hello["token"]

    def _read(self, timeout: float) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None
        # One line answers each command, so nothing waits in the pipe's buffer here.
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            raise RuntimeError(f"the benchmark server did not answer within {timeout:.0f} s")
        line = stdout.readline()
        if not line:
            raise RuntimeError("the benchmark server went away")
        return dict(json.loads(line))

    def _send(self, timeout: float = 60.0, **command: Any) -> dict[str, Any]:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        return self._read(timeout)

    def reset(self, records: int) -> None:
        """A fresh org of *records* records, latency 50 ms, limit 20, zeroed counters."""
        reply = self._send(
            op="reset", records=[FIRST_ID, records], latency=LATENCY, limit=ORG_LIMIT
        )
        self._cpu_at_reset = float(reply["cpu"])

    def stats(self) -> dict[str, Any]:
        """What the server saw since the last reset; ``cpu`` is its CPU seconds since then."""
        reply = self._send(op="stats")
        reply["cpu"] = float(reply["cpu"]) - self._cpu_at_reset
        return reply

    def _kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        """Stop the process: politely, else by force."""
        try:
            if self.process.poll() is None:
                self._send(timeout=10.0, op="quit")
                self.process.wait(timeout=10)
        except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired):
            pass
        finally:
            self._kill()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def run_child(args: Sequence[str], env: dict[str, str]) -> tuple[int, Times, str, str]:
    """Run one client process; return its exit code, start and end, stdout and stderr.

    The times are ``time.monotonic()``, the clock of the server's event loop, which
    stamps the arrivals: on one machine the two compare directly. The process is
    killed if it outlives `CHILD_TIMEOUT` or the runner is interrupted.
    """
    started = time.monotonic()
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = process.communicate(timeout=CHILD_TIMEOUT)
        ended = time.monotonic()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, (started, ended), out, err


def client_env(token: str, limit_store: Path | None) -> dict[str, str]:
    """A client process's environment: *token*, this checkout, *limit_store* if given."""
    # None of the caller's Zoho settings (token or limit stores, Redis, data centre).
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZOHO_")}
    env["ZOHO_ACCESS_TOKEN"] = token
    env["PYTHONPATH"] = str(ROOT)
    if limit_store is not None:
        env["ZOHO_LIMIT_STORE"] = str(limit_store)
    return env


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_commit() -> str | None:
    """The checkout's commit, short; None without git."""
    return _git("rev-parse", "--short", "HEAD")


def git_dirty() -> bool:
    """Whether files outside benchmarks/ have uncommitted changes.

    Those make the commit alone an incomplete description of what was measured;
    benchmarks/ is left out because a full run rewrites its own results there.
    """
    return bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks"))
