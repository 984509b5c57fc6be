"""Files that processes share, as they behave on every platform (Windows too).

Where there is no ``fcntl`` (Windows), the token store's lock must still keep
the processes sharing one file to one mint: six real command-line processes,
each with ``import fcntl`` made to fail, are started together against an
accounts server that takes 400 ms to answer. Also: a lock that cannot be had
(said once), the journal read as bytes, CSV reports without blank rows, and
``os.replace`` retried while another program has the file open.
"""

from __future__ import annotations

import _pyio
import asyncio
import concurrent.futures
import csv
import json
import logging
import os
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import filelock
import pytest
from helpers import refresh_env

from zoho_locking import BulkReport, FileLimitStore, FileTokenStore, RefreshTokenAuth, _files
from zoho_locking._files import file_lock, replace_file
from zoho_locking.bulk.journal import Journal
from zoho_locking.cli import command
from zoho_locking.models import FAILED, SUCCEEDED, Operation, Outcome
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer
from zoho_locking.wire.converter import converter

PROCESSES = 6

# On the subprocesses' PYTHONPATH: site imports it at start-up, before any of
# the program's own imports, so ``import fcntl`` fails there as it does on Windows.
NO_FCNTL = '''
import sys


class _NoFcntl:
    """A meta-path finder that makes ``import fcntl`` fail, as on Windows."""

    def find_spec(self, name, path=None, target=None):
        if name == "fcntl":
            raise ImportError("No module named 'fcntl' (made to fail by the test)")
        return None


sys.modules.pop("fcntl", None)
sys.meta_path.insert(0, _NoFcntl())
'''

# Each process loads the command line, says it is ready, and waits for the gate,
# so that all six ask for a token within a few milliseconds of each other.
GATED = '''
import os, sys, time
from pathlib import Path

import zoho_locking.cli.command  # the imports are done before the gate opens
from zoho_locking.cli.main import main

try:
    import fcntl  # noqa: F401
except ImportError:
    Path(sys.argv[1] + ".nofcntl").touch()
Path(sys.argv[1] + ".ready").touch()
while not Path(sys.argv[2]).exists():
    time.sleep(0.002)
sys.argv = ["zoho-locking", *sys.argv[3:]]
main()
'''


async def test_six_processes_without_fcntl_sharing_a_token_file_mint_one_token(
    tmp_path: Path,
) -> None:
    prelude = tmp_path / "prelude"
    prelude.mkdir()
    (prelude / "sitecustomize.py").write_text(textwrap.dedent(NO_FCNTL))
    script = tmp_path / "gated.py"
    script.write_text(textwrap.dedent(GATED))
    gate = tmp_path / "gate"
    crm = FakeCRM(default_token=False)
    ids = crm.add_records("Deals", PROCESSES * 3)
    accounts = FakeAccounts()
    accounts.latency = 0.4  # every process asks while the first mint is under way
    store = tmp_path / "shared" / "token.json"
    async with FakeServer(crm, accounts=accounts) as server:
        env = refresh_env(server, ZOHO_TOKEN_STORE=str(store), PYTHONPATH=str(prelude))
        processes = []
        for n in range(PROCESSES):
            share = tmp_path / f"ids{n}.txt"
            share.write_text("\n".join(ids[n::PROCESSES]) + "\n")
            args = ["lock", "--module", "Deals", "--reason", "together", "--ids", str(share),
                    "-q", "--api-domain", server.url]  # fmt: skip
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(script), str(tmp_path / f"p{n}"), str(gate), *args,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env,
            )  # fmt: skip
            processes.append(process)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while not all((tmp_path / f"p{n}.ready").exists() for n in range(PROCESSES)):
            assert loop.time() < deadline, "the processes never got ready"
            assert all(p.returncode is None for p in processes), "a process ended early"
            await asyncio.sleep(0.02)
        gate.touch()
        outputs = await asyncio.wait_for(
            asyncio.gather(*(process.communicate() for process in processes)), timeout=120
        )
    for n, (process, (_, err)) in enumerate(zip(processes, outputs, strict=True)):
        assert process.returncode == 0, f"process {n}: {err.decode()}"
        assert (tmp_path / f"p{n}.nofcntl").exists(), "import fcntl failed in every process"
        assert not err, err.decode()  # no warning: not from filelock, not "cannot lock"
    assert set(crm.locks("Deals")) == set(ids)
    minted = f"{len(accounts.requests)} token requests, {accounts.mints} minted"
    assert len(accounts.requests) == 1 and accounts.mints == 1, minted


# -- the journal, binary on every platform ------------------------------------------------


def test_the_journal_is_opened_binary_where_the_platform_has_o_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    o_binary = 0x8000  # Windows' value; this platform has none, so it is taken off below
    flags_seen: list[int] = []
    real_open = os.open

    def recording_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        flags_seen.append(flags)
        return real_open(path, flags & ~o_binary, mode, **kwargs)

    monkeypatch.setattr(os, "O_BINARY", o_binary, raising=False)
    monkeypatch.setattr(os, "open", recording_open)
    run = Journal(tmp_path / "run.jsonl", operation=Operation.LOCK, module="Deals")
    run.open(resume=False)
    run.record(Outcome("1", FAILED, "INVALID_DATA", "line one\r\nline two", 400))
    run.close()
    assert flags_seen and all(flags & o_binary for flags in flags_seen)


def test_a_torn_last_line_is_cut_at_its_byte_offset_after_crlf_lines(tmp_path: Path) -> None:
    """Lines ending ``\\r\\n`` (a text-mode writer on Windows) and a torn last line: cut exactly."""
    path = tmp_path / "run.jsonl"
    run = Journal(path, operation=Operation.LOCK, module="Deals")
    run.open(resume=False)
    first = Outcome("1", FAILED, "INVALID_DATA", "two lines:\r\nin a message", 400)
    run.record(first)
    run.close()
    written = path.read_bytes()
    assert b"\r" not in written, "a message's CR LF is escaped: only the line ends are raw"
    # The same journal as a newline-translating writer leaves it, then a kill mid-line.
    complete = written.replace(b"\n", b"\r\n")
    second = Outcome("2", SUCCEEDED, "SUCCESS", locking_id="99")
    second_line = json.dumps(converter.unstructure(second)).encode() + b"\n"
    path.write_bytes(complete + second_line[:25])

    run = Journal(path, operation=Operation.LOCK, module="Deals")
    state = run.open(resume=True)
    assert state.finished == {"1": first}
    assert path.read_bytes() == complete, "cut at the byte after the last newline, CR kept"
    run.record(second)
    run.close()
    assert path.read_bytes() == complete + second_line, "the next line starts clean"
    run = Journal(path, operation=Operation.LOCK, module="Deals")
    state = run.open(resume=True)
    run.close()
    assert state.finished == {"1": first, "2": second}


# -- CSV reports: the csv module's bytes, no blank rows -----------------------------------


def windows_text_open(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``open`` as on Windows: text streams turn every ``\\n`` written into ``\\r\\n``."""
    monkeypatch.setattr(os, "linesep", "\r\n")  # the pure-Python io reads it when opening
    return _pyio.open


def test_a_csv_report_holds_exactly_the_csv_modules_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = BulkReport("lock", "Deals")
    report.add(Outcome("1", SUCCEEDED, "SUCCESS", locking_id="77"))
    report.add(Outcome("2", FAILED, "INVALID_DATA", 'a "quoted",\r\nmessage', 400))
    report.add(Outcome("3", SUCCEEDED, "SUCCESS", locking_id="78"))
    windows_open = windows_text_open(monkeypatch)
    # The stand-in translates as Windows does: without newline="", \r\n became \r\r\n.
    with windows_open(tmp_path / "check.txt", "w", encoding="utf-8") as stream:
        stream.write("a\r\n")
    assert (tmp_path / "check.txt").read_bytes() == b"a\r\r\n"
    monkeypatch.setattr(command, "open", windows_open, raising=False)

    target = tmp_path / "report.csv"
    command._write_report(report, target)
    assert target.read_bytes() == report.to_csv().encode("utf-8")
    with target.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    assert [row[0] for row in rows] == ["record_id", "1", "2", "3"], "no blank rows"
    assert rows[2][3] == 'a "quoted",\r\nmessage'
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# -- os.replace while another program has the file open -----------------------------------


def sharing_violation() -> PermissionError:
    exc = PermissionError(13, "The process cannot access the file because it is being used")
    exc.winerror = 32  # type: ignore[attr-defined]  # what Windows sets
    return exc


class FlakyReplace:
    """`os.replace` that fails with a sharing violation *failures* times, then replaces."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.real = os.replace

    def __call__(self, source: Any, target: Any) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise sharing_violation()
        self.real(source, target)


def test_a_replace_is_retried_while_the_target_is_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = tmp_path / "new", tmp_path / "report.csv"
    source.write_text("new")
    target.write_text("old")
    flaky = FlakyReplace(failures=2)
    monkeypatch.setattr(os, "replace", flaky)
    slept: list[float] = []
    replace_file(source, target, sleep=slept.append)
    assert target.read_text() == "new" and not source.exists()
    assert flaky.calls == 3 and slept == [0.05, 0.1], "two short waits, then it went through"


def test_a_replace_that_keeps_failing_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = tmp_path / "new", tmp_path / "report.csv"
    source.write_text("new")
    target.write_text("old")
    flaky = FlakyReplace(failures=1000)
    monkeypatch.setattr(os, "replace", flaky)
    slept: list[float] = []
    with pytest.raises(PermissionError) as caught:
        replace_file(source, target, sleep=slept.append)
    assert flaky.calls == 6 and len(slept) == 5 and sum(slept) == pytest.approx(1.55)
    assert str(target) in str(caught.value)
    assert "stayed open in another program (6 tries in 1.55s)" in str(caught.value)
    assert getattr(caught.value.__cause__, "winerror", None) == 32
    assert target.read_text() == "old"


def test_other_replace_errors_are_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: Any, target: Any) -> None:
        raise PermissionError(13, "Permission denied")  # POSIX: no winerror, not transient

    monkeypatch.setattr(os, "replace", refuse)
    slept: list[float] = []
    with pytest.raises(PermissionError, match="Permission denied"):
        replace_file(tmp_path / "a", tmp_path / "b", sleep=slept.append)
    assert slept == []


# -- a lock that cannot be had ----------------------------------------------------------------


class Unlockable:
    """A filelock lock whose file cannot be opened (a read-only directory, say)."""

    def __init__(self, path: str, **options: Any) -> None:
        self.lock_file = path

    def acquire(self, timeout: float | None = None) -> None:
        raise PermissionError(13, "Permission denied", self.lock_file)

    def release(self) -> None:
        raise AssertionError("never locked, never released")


async def test_a_token_lock_that_cannot_be_had_is_said_once_and_each_process_mints_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(filelock, "FileLock", Unlockable)
    accounts = FakeAccounts()
    store = FileTokenStore(tmp_path / "token.json")
    async with FakeServer(FakeCRM(), accounts=accounts) as server:
        auth = RefreshTokenAuth(
            client_id=accounts.client_id, client_secret=accounts.client_secret,
            refresh_token=accounts.refresh_token, accounts_url=server.url, store=store,
        )  # fmt: skip
        async with auth:
            with caplog.at_level(logging.WARNING, logger="zoho_locking"):
                first = await auth.get_token()
                second = await auth.refresh(first)
                with pytest.raises(ValueError) as caught:
                    async with store.mint_lock("another key"):
                        raise ValueError("the caller's own error")
    assert caught.value.__context__ is None, "the caller's error carries no lock error"
    assert first != second and accounts.mints == 2, "minted all the same, on its own"
    said = [r.getMessage() for r in caplog.records if "cannot lock" in r.getMessage()]
    assert said == [
        f"cannot lock {store.lock_path} (PermissionError: Permission denied): this process "
        f"mints its own tokens, not shared through {store.path}"
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records if "cannot lock" in r.message)


def test_a_limit_store_that_cannot_be_locked_saves_unlocked_and_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(filelock, "FileLock", Unlockable)
    store = FileLimitStore(tmp_path / "limits.json")
    with caplog.at_level(logging.WARNING, logger="zoho_locking"):
        store.save("a", 12)
        store.save("b", 7)
    assert (store.load("a"), store.load("b")) == (12, 7)
    said = [r.getMessage() for r in caplog.records if "cannot lock" in r.getMessage()]
    assert len(said) == 1 and "another process's save may be lost" in said[0]


def test_limit_saves_from_many_threads_keep_every_entry(tmp_path: Path) -> None:
    path = tmp_path / "limits.json"

    def save_all(n: int) -> None:
        store = FileLimitStore(path)  # a lock of its own, as another process would have
        for _ in range(5):
            store.save(f"org{n}", n + 1)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(save_all, range(8)))
    assert {f"org{n}": FileLimitStore(path).load(f"org{n}") for n in range(8)} == {
        f"org{n}": n + 1 for n in range(8)
    }


async def test_a_lock_held_elsewhere_times_out_without_a_wait(tmp_path: Path) -> None:
    path = tmp_path / "held.lock"
    async with file_lock(path, poll=0.01, wait=5, unshared="-") as locked:
        assert locked
        with pytest.raises(TimeoutError, match=r"held\.lock stayed locked for 0s"):
            async with file_lock(path, poll=0.01, wait=0, unshared="-"):
                pass
    async with file_lock(path, poll=0.01, wait=0, unshared="-") as locked:
        assert locked, "free again once let go"


class GatedAttempts:
    """Attempts at the lock that wait in their thread until the test opens the gate."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started, self.gate = threading.Event(), threading.Event()
        #: Set once an attempt let through the gate has returned.
        self.done = threading.Event()
        real = _files._try_acquire

        def gated(lock: Any, path: Path) -> bool:
            self.started.set()
            assert self.gate.wait(timeout=10), "never opened"
            try:
                return real(lock, path)
            finally:
                self.done.set()

        monkeypatch.setattr(_files, "_try_acquire", gated)


async def test_an_attempt_at_the_lock_leaves_the_event_loop_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = GatedAttempts(monkeypatch)

    async def hold() -> bool:
        async with file_lock(tmp_path / "slow.lock", poll=0.01, wait=5, unshared="-") as locked:
            return locked

    holding = asyncio.create_task(hold())
    ticks = 0
    while not attempts.started.is_set() or ticks < 20:  # the loop turns meanwhile
        await asyncio.sleep(0)
        ticks += 1
    assert not holding.done()
    attempts.gate.set()
    assert await holding


async def test_a_lock_taken_after_its_waiter_was_cancelled_is_let_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cancelled.lock"
    attempts = GatedAttempts(monkeypatch)
    entered = False
    # Kept alive here, so that no garbage collector lets the lock go in its place.
    made: list[Any] = []
    new_lock = _files._new_lock
    monkeypatch.setattr(_files, "_new_lock", lambda p: made.append(new_lock(p)) or made[-1])

    async def hold() -> None:
        nonlocal entered
        async with file_lock(path, poll=0.01, wait=5, unshared="-"):
            entered = True

    holding = asyncio.create_task(hold())
    assert await asyncio.to_thread(attempts.started.wait, 10)
    holding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holding
    attempts.gate.set()  # the thread takes the lock after all: it must be let go
    # Its attempt returns first (else the next lock could be had before it, and the
    # check below would race it), then the loop runs the callback that lets it go.
    assert await asyncio.to_thread(attempts.done.wait, 10)
    monkeypatch.undo()
    async with file_lock(path, poll=0.005, wait=2, unshared="-") as locked:
        assert locked and not entered
    assert len(made) == 1 and not made[0].is_locked
