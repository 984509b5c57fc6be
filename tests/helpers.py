"""Helpers shared by the test modules: a fake clock, and running the CLI.

`run_cli` runs the command line in this process (``cli.run`` in a thread, with
its own streams and event loop) while the test's loop serves the fake CRM: fast,
and it covers the code. `run_cli_process` and `start_cli` start a real process,
for what only a process shows: signals, SIGKILL, output of the console script.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
from collections import Counter
from pathlib import Path

import attrs

from zoho_locking import BulkReport
from zoho_locking.models import FAILED, SKIPPED, SUCCEEDED, UNFINISHED
from zoho_locking.testing import FakeCRM, FakeServer

TOKEN = FakeCRM.DEFAULT_TOKEN


class FakeClock:
    """A clock and sleep for flow control and retries: sleeping advances the time at once."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


class WallClock:
    """A wall clock (epoch seconds) that moves only when told."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MintedTokens:
    """Every access token the fake org hands out, recorded as it is minted."""

    def __init__(self, crm: FakeCRM) -> None:
        self.tokens: list[str] = []
        mint = crm.mint_token

        def recording_mint(lifetime: float, scopes: frozenset[str] | None = None) -> str:
            token = mint(lifetime, scopes)
            self.tokens.append(token)
            return token

        crm.mint_token = recording_mint  # type: ignore[method-assign]


@attrs.frozen
class Result:
    code: int
    stdout: str
    stderr: str


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOHO_")}
    env.update(extra)
    return env


def refresh_env(server: FakeServer, **extra: str) -> dict[str, str]:
    """`cli_env` with the refresh-token settings of *server*'s accounts, and *extra* over them."""
    accounts = server.accounts
    assert accounts is not None, "the server serves no accounts"
    return cli_env(**{
        "ZOHO_CLIENT_ID": accounts.client_id, "ZOHO_CLIENT_SECRET": accounts.client_secret,
        "ZOHO_REFRESH_TOKEN": accounts.refresh_token, "ZOHO_ACCOUNTS_URL": server.url, **extra,
    })  # fmt: skip


async def start_cli(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "zoho_locking",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env if env is not None else cli_env(ZOHO_ACCESS_TOKEN=TOKEN),
    )


async def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> Result:
    """Run the command line in process (a thread of its own) and collect what it printed."""
    from zoho_locking.cli.main import run

    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.wait_for(
        asyncio.to_thread(
            run,
            list(args),
            env if env is not None else cli_env(ZOHO_ACCESS_TOKEN=TOKEN),
            stdin=io.BytesIO(stdin or b""),
            stdout=out,
            stderr=err,
        ),
        timeout=60,
    )
    return Result(code, out.getvalue(), err.getvalue())


async def run_cli_process(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> Result:
    """Run the command line as a real process: ``python -m zoho_locking``."""
    process = await start_cli(*args, env=env, stdin=stdin)
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def outcomes_in(path: Path) -> int:
    return path.read_text().count('"status"') if path.exists() else 0


async def wait_for_lines(path: Path, count: int, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if outcomes_in(path) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never reached {count} outcomes")


def assert_truthful(report: BulkReport, crm: FakeCRM) -> None:
    """No id twice; every record called failed or skipped is not locked; successes are."""
    counts = Counter(o.record_id for o in report.outcomes)
    assert not [i for i, n in counts.items() if n > 1], "an id reported twice"
    assert len(counts) == report.total
    locked = set(crm.locks("Deals"))
    for outcome in report.outcomes:
        if outcome.status in (FAILED, SKIPPED):
            assert outcome.record_id not in locked, outcome
        if outcome.status == SUCCEEDED:
            assert outcome.record_id in locked, outcome
        if outcome.status == UNFINISHED and outcome.code != "UNCERTAIN":
            assert outcome.record_id not in locked, outcome  # nothing of it was sent


async def drained(server: FakeServer) -> None:
    """Wait until the server has finished every request it took (writes applied late)."""
    for _ in range(500):
        if server.in_flight == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server never drained")


class DropsSecond:
    """A loopback server answering 204 to the first request of a connection, dropping the next."""

    def __init__(self) -> None:
        self.requests = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while await reader.readuntil(b"\r\n\r\n"):  # no body: GET and DELETE only
                self.requests += 1
                served += 1
                if served == 2:
                    break  # close without an answer
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
