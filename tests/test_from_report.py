"""Unlock and update from a previous run's report or journal: one request per record.

Stale locking ids are handled safely: a record unlocked meanwhile is skipped,
one locked anew by someone else keeps its new lock (``LOCK_CHANGED``) unless
``--any-lock`` / ``any_lock=True``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import TOKEN, run_cli

from zoho_locking import BulkReport, LockingClient
from zoho_locking.errors import ValidationError
from zoho_locking.models import FAILED, SKIPPED, SUCCEEDED
from zoho_locking.testing import FakeCRM, FakeServer


async def lock_with_report(
    server: FakeServer, tmp_path: Path, ids: list[str], *extra: str
) -> Path:
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(ids) + "\n")
    report = tmp_path / "lock.json"
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", "--ids", str(path), "-q",
        "--api-domain", server.url, "--report", str(report), *extra,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    return report


async def test_unlock_from_a_report_sends_one_request_per_record(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 1000)
    async with FakeServer(crm) as server:
        report = await lock_with_report(server, tmp_path, ids)
        before = len(crm.requests)
        out = tmp_path / "unlock.json"
        result = await run_cli(
            "unlock", "--from-report", str(report), "-q", "--api-domain", server.url,
            "--report", str(out),
        )  # fmt: skip
    assert result.code == 0, result.stderr
    sent = crm.requests[before:]
    assert len(sent) == 1000 and {r.method for r in sent} == {"DELETE"}
    assert crm.locks("Deals") == {}
    unlocked = BulkReport.from_json(out.read_text())
    assert unlocked.module == "Deals" and unlocked.succeeded == 1000 and unlocked.requests == 1000


async def test_update_from_a_journal_sends_one_request_per_record(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 1000)
    journal = tmp_path / "lock.jsonl"
    async with FakeServer(crm) as server:
        await lock_with_report(server, tmp_path, ids, "--journal", str(journal))
        before = len(crm.requests)
        result = await run_cli(
            "update", "--from-report", str(journal), "--reason", "awaiting approval", "-q",
            "--api-domain", server.url,
        )  # fmt: skip
    assert result.code == 0, result.stderr
    sent = crm.requests[before:]
    assert len(sent) == 1000 and {r.method for r in sent} == {"PUT"}
    assert {lock.reason for lock in crm.locks("Deals").values()} == {"awaiting approval"}


@pytest.mark.parametrize("any_lock", [False, True])
async def test_stale_locking_ids_never_remove_someone_elses_lock(
    tmp_path: Path, any_lock: bool
) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 100)
    async with FakeServer(crm) as server:
        report = await lock_with_report(server, tmp_path, ids)
        gone, relocked = ids[:10], ids[10:20]
        for record_id in gone:
            crm.clear_lock("Deals", record_id)  # someone unlocked them
        new_locks = {}
        for record_id in relocked:
            crm.clear_lock("Deals", record_id)  # ... and locked these again
            new_locks[record_id] = crm.manual_lock("Deals", record_id, "someone else's")
        out = tmp_path / "unlock.json"
        flags = ["--any-lock"] if any_lock else []
        result = await run_cli(
            "unlock", "--from-report", str(report), "-q", "--api-domain", server.url,
            "--report", str(out), *flags,
        )  # fmt: skip
    unlocked = BulkReport.from_json(out.read_text())
    by_id = {o.record_id: o for o in unlocked.outcomes}
    assert unlocked.total == 100
    for record_id in ids[20:]:
        assert by_id[record_id].status == SUCCEEDED
    for record_id in gone:
        assert (by_id[record_id].status, by_id[record_id].code) == (SKIPPED, "NOT_LOCKED")
    locks = crm.locks("Deals")
    if any_lock:
        assert result.code == 0, result.stderr
        assert locks == {}
        assert all(by_id[r].status == SUCCEEDED for r in relocked)
    else:
        assert result.code == 1, result.stderr
        assert set(locks) == set(relocked)
        for record_id in relocked:
            outcome = by_id[record_id]
            assert (outcome.status, outcome.code) == (FAILED, "LOCK_CHANGED")
            assert outcome.locking_id == new_locks[record_id] == locks[record_id].id
            assert locks[record_id].reason == "someone else's"


async def test_update_with_a_stale_locking_id_reports_the_new_lock() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 3)
    async with FakeServer(crm) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url
    ) as client:
        locked = await client.lock_many("Deals", ids, reason="r")
        crm.clear_lock("Deals", ids[0])
        newer = crm.manual_lock("Deals", ids[0], "theirs")
        crm.clear_lock("Deals", ids[1])
        updated = await client.update_many("Deals", locked.locks(), reason="new")
    by_id = {o.record_id: o for o in updated.outcomes}
    assert (by_id[ids[0]].code, by_id[ids[0]].locking_id) == ("LOCK_CHANGED", newer)
    assert by_id[ids[1]].code == "NOT_LOCKED"
    assert by_id[ids[2]].status == SUCCEEDED
    assert crm.lock_of("Deals", ids[0]).reason == "theirs"  # type: ignore[union-attr]
    assert updated.requests == 3 + 2  # one PUT each, and one read for each stale id


async def test_report_locks_feed_unlock_many_directly() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 200)
    crm.auto_lock("Deals", ids[0])
    async with FakeServer(crm) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url
    ) as client:
        locked = await client.lock_many("Deals", ids, reason="r")
        pairs = locked.locks()
        assert len(pairs) == 199, "a lock someone else made is not ours to lift"
        unlocked = await client.unlock_many("Deals", pairs)
    assert unlocked.succeeded == 199 and unlocked.requests == 199
    assert set(crm.locks("Deals")) == {ids[0]}
    with pytest.raises(ValidationError):
        unlocked.locks()
    with pytest.raises(ValidationError):
        BulkReport("lock", "Deals", keep_successes=False).locks()


@pytest.mark.parametrize(
    "content",
    [
        '{"data": [1, 2, 3]}',
        "record_id,status,code\n5843104000001000001,succeeded,SUCCESS\n",
        '{"operation": "lock", "module": "Deals", "outcomes": [{"record_id": "58',
        "not a report at all\n",
        "",
    ],
    ids=["other-json", "csv-report", "truncated", "text", "empty"],
)
async def test_a_file_that_is_not_a_report_is_refused_before_anything_is_sent(
    tmp_path: Path, content: str
) -> None:
    crm = FakeCRM()
    crm.add_records("Deals", 10)
    path = tmp_path / "report.json"
    path.write_text(content)
    async with FakeServer(crm) as server:
        result = await run_cli(
            "unlock", "--from-report", str(path), "-q", "--api-domain", server.url
        )
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in result.stderr
    assert crm.requests == []


async def test_dry_run_shows_the_cost_each_way(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 50)
    async with FakeServer(crm) as server:
        report = await lock_with_report(server, tmp_path, ids)
        before = len(crm.requests)
        result = await run_cli(
            "unlock", "--from-report", str(report), "--dry-run", "--api-domain", server.url
        )
    assert result.code == 0, result.stderr
    assert "would cost 50 requests" in result.stdout
    assert "by record id alone: 100 requests" in result.stdout
    assert len(crm.requests) == before
