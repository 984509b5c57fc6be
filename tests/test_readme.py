"""The README's Python examples run as written.

Examples that bring their own fake CRM run unchanged, but for the size of the
bulk example's org (500 records instead of 5,000, to keep the suite fast), and
examples naming a Redis at ``localhost:6379`` run against the tests' own
redis-server. The first example talks
to Zoho itself (``dc="us"``, a real token): it runs unchanged too, with
`LockingClient` swapped for one whose transport hands each request to an
in-process `FakeCRM` that knows the example's token and record, so nothing
leaves the machine.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import zoho_locking
from zoho_locking.testing import FakeCRM
from zoho_locking.testing.inprocess import crm_transport

README = Path(__file__).resolve().parent.parent / "README.md"
#: The Redis URL examples name; the tests run them against their own redis-server.
REDIS = "redis://localhost:6379/0"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def run(code: str) -> str:
    """Execute *code* as a script of its own; return what it printed.

    An example that sets OpenTelemetry's global providers runs in a process of its
    own: they can be set once per process, and the other tests must not record.
    """
    if "set_tracer_provider" in code or "set_meter_provider" in code:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "__main__"})
    return out.getvalue()


def test_the_readme_has_the_examples_this_file_runs() -> None:
    assert len(BLOCKS) >= 3
    assert 'dc="us"' in BLOCKS[0]
    assert sum("FakeServer" in block for block in BLOCKS) >= 2


@pytest.mark.parametrize(
    "index", [i for i, block in enumerate(BLOCKS) if "FakeServer" in block]
)
def test_examples_with_their_own_fake_crm_run_unchanged(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)  # whatever an example writes stays out of the checkout
    code = BLOCKS[index].replace('add_records("Deals", 5000)', 'add_records("Deals", 500)')
    if REDIS in code:
        # The example's Redis is the tests' real redis-server.
        code = code.replace(REDIS, request.getfixturevalue("redis_url"))
    printed = run(code)
    assert printed.strip(), "the example printed nothing"
    # Where an example shows what it prints (a comment after print), it prints that.
    for shown in re.findall(r"^\s*print\(.*\)\s+# (.+)$|^\s+# ([A-Z_]+ .+)$", code, re.M):
        expected = shown[0] or shown[1]
        assert expected in printed, (expected, printed)


def test_the_first_example_runs_unchanged_against_an_in_process_fake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = BLOCKS[0]
    token = re.search(r'asyncio\.run\(main\("([^"]+)"\)\)', code)
    record = re.search(r'"([0-9]{19})"', code)
    assert token is not None and record is not None
    crm = FakeCRM(default_token=False)
    crm.add_token(token.group(1))
    crm.add_records("Deals", [record.group(1)])
    real = zoho_locking.LockingClient

    def in_process(**options: Any) -> zoho_locking.LockingClient:
        return real(**options, transport=crm_transport(crm))

    monkeypatch.setattr(zoho_locking, "LockingClient", in_process)
    printed = run(code)
    assert printed.strip() == "403 NOT_ALLOWED record is already locked"
    lock = crm.lock_of("Deals", record.group(1))
    assert lock is not None and lock.reason == "twice"
