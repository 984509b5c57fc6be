"""Full speed from the first request: the in-flight limit a run learned, kept for the next.

The flow's own rules are in test_flow; here the file that keeps the learned
limit (`FileLimitStore`) and the CLI that reads it before a run and writes it
after, against the fake server's concurrency limit.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from helpers import TOKEN, cli_env, run_cli

from zoho_locking.flow import FlowControl
from zoho_locking.flow.limitstore import MAX_AGE, FileLimitStore, org_key
from zoho_locking.testing import FakeCRM, FakeServer

# -- the store ----------------------------------------------------------------


def test_a_saved_limit_is_loaded_by_its_key_only(tmp_path: Path) -> None:
    store = FileLimitStore(tmp_path / "limits.json")
    a, b = org_key("https://www.zohoapis.com", "1000.ABC"), org_key("https://www.zohoapis.eu", None)
    assert store.load(a) is None  # no file yet: every first run
    store.save(a, 20)
    store.save(b, 7)
    assert store.load(a) == 20 and store.load(b) == 7
    store.save(a, 18)
    assert (store.load(a), store.load(b)) == (18, 7)
    assert FileLimitStore(tmp_path / "limits.json").load(a) == 18  # the next run's view


def test_the_file_is_private_and_names_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state" / "limits.json"
    FileLimitStore(path).save(org_key("https://www.zohoapis.com", "1000.CLIENTID"), 20)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert "zohoapis" not in text and "CLIENTID" not in text
    assert json.loads(text)["format"] == 1
    # No temporary file left; the lock file (which holds nothing) may stay, private too.
    assert {p.name for p in path.parent.iterdir()} <= {"limits.json", "limits.json.lock"}
    if path.with_name("limits.json.lock").exists():
        assert stat.S_IMODE(os.stat(path.with_name("limits.json.lock")).st_mode) == 0o600


def test_old_entries_are_forgotten(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = FileLimitStore(tmp_path / "limits.json", clock=lambda: now[0])
    store.save("old", 5)
    now[0] += MAX_AGE + 1
    assert store.load("old") is None
    store.save("new", 9)
    assert "old" not in json.loads((tmp_path / "limits.json").read_text())["limits"]


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"format": 99, "limits": {"k": {"limit": 5, "saved_at": 1}}}',
        '{"format": 1, "limits": {"k": {"limit": 0, "saved_at": 1e12}}}',
        '{"format": 1, "limits": {"k": {"limit": "5", "saved_at": 1e12}}}',
        '{"format": 1, "limits": {"k": {"limit": true, "saved_at": 1e12}}}',
        '{"format": 1, "limits": {"k": 5}}',
        '{"format": 1, "limits": []}',
    ],
)
def test_an_unusable_file_reads_as_nothing_learned(tmp_path: Path, content: str) -> None:
    path = tmp_path / "limits.json"
    path.write_text(content)
    store = FileLimitStore(path, clock=lambda: 1e12)
    assert store.load("k") is None
    store.save("k", 3)  # and is replaced by a good one
    assert store.load("k") == 3


# -- the CLI --------------------------------------------------------------------


async def test_the_cli_starts_where_the_previous_run_learned(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 240)
    ids_path, store_path = tmp_path / "ids.txt", tmp_path / "limits.json"
    env = cli_env(ZOHO_ACCESS_TOKEN=TOKEN, ZOHO_LIMIT_STORE=str(store_path))
    async with FakeServer(crm, latency=0.02, concurrency_limit=4) as server:
        key = org_key(server.url, None)

        async def run(command: str, part: list[str]) -> int:
            ids_path.write_text("\n".join(part) + "\n")
            before = server.too_many_requests
            args = [command, "--module", "Deals", "--ids", str(ids_path)]
            args += ["--reason", "r"] if command == "lock" else []
            result = await run_cli(
                *args, "--api-domain", server.url, "--concurrency", "12", "-q", env=env
            )
            assert result.code == 0, result.stderr
            return server.too_many_requests - before

        # First run: starts at the cap of 12, so the server refuses the burst
        # above its 4, and the run learns 4.
        cold = await run("lock", ids[:120])
        assert cold >= 8
        assert FileLimitStore(store_path).load(key) == 4
        # Next run: starts at 4, probing slowly above it.
        warm = await run("lock", ids[120:])
        assert warm <= 1
        assert FileLimitStore(store_path).load(key) == 4
    assert len(crm.locks("Deals")) == 240


async def test_the_learned_limit_is_kept_beside_the_token_store(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 40)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    env = cli_env(ZOHO_ACCESS_TOKEN=TOKEN, ZOHO_TOKEN_STORE=str(tmp_path / "tokens.json"))
    async with FakeServer(crm, latency=0.02, concurrency_limit=3) as server:
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "r", "--ids", str(tmp_path / "ids.txt"),
            "--api-domain", server.url, "--concurrency", "8", "-q", env=env,
        )  # fmt: skip
    assert result.code == 0, result.stderr
    store = FileLimitStore(tmp_path / "zoho-locking-limits.json")
    assert store.load(org_key(server.url, None)) == 3


async def test_no_store_no_file_and_a_flow_that_never_429s_learns_nothing(
    tmp_path: Path,
) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 30)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    async with FakeServer(crm) as server:
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "r", "--ids", str(tmp_path / "ids.txt"),
            "--api-domain", server.url, "-q",
            env=cli_env(ZOHO_ACCESS_TOKEN=TOKEN, ZOHO_LIMIT_STORE=str(tmp_path / "l.json")),
        )  # fmt: skip
    assert result.code == 0, result.stderr
    # Nothing refused, nothing learned: the next run starts at its own cap.
    assert not (tmp_path / "l.json").exists()
    assert FlowControl(max_concurrency=10).learned_limit is None
