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
import sys
import textwrap
from pathlib import Path

from helpers import cli_env

from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer

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
