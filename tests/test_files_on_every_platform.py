"""Files that processes share, as they behave on every platform (Windows too).

Where there is no ``fcntl`` (Windows), the token store's lock must still keep
the processes sharing one file to one mint: six real command-line processes,
each with ``import fcntl`` made to fail, are started together against an
accounts server that takes 400 ms to answer. Also: a lock that cannot be had
(said once), the journal read as bytes, CSV reports without blank rows, and
``os.replace`` retried while another program has the file open.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_env

from zoho_locking.bulk.journal import Journal
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
        env = cli_env(
            ZOHO_CLIENT_ID=accounts.client_id,
            ZOHO_CLIENT_SECRET=accounts.client_secret,
            ZOHO_REFRESH_TOKEN=accounts.refresh_token,
            ZOHO_ACCOUNTS_URL=server.url,
            ZOHO_TOKEN_STORE=str(store),
            PYTHONPATH=str(prelude),
        )
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
