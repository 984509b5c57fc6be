"""A bulk run stopped part way: the truth about the records that were in flight.

Against a fake whose latency is half spent after it applies a write, a write
cut short has often landed: a stopped run must never call such a record
failed, and a resumed run must finish without sending a write twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from helpers import TOKEN, assert_truthful, drained

from zoho_locking import BulkReport, LockingClient
from zoho_locking.bulk import engine
from zoho_locking.models import UNFINISHED
from zoho_locking.testing import FakeCRM, FakeServer, OrgSpec


async def in_flight(server: FakeServer, count: int) -> None:
    """Wait until the server holds *count* requests."""
    for _ in range(1000):
        if server.in_flight >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never {count} requests in flight")


async def cancelled_run(
    server: FakeServer, client: LockingClient, ids: list[str], journal: Path, at: int
) -> BulkReport:
    report = BulkReport("lock", "Deals")

    def progress(done: int, total: int | None, _: BulkReport) -> None:
        if done == at:
            task.cancel()

    task = asyncio.create_task(
        client.lock_many(
            "Deals", ids, reason="r", journal=journal, report=report, progress=progress
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    await drained(server)
    return report


async def test_cancelled_lock_many_lets_the_records_in_flight_finish(tmp_path: Path) -> None:
    zoho = OrgSpec(records={"Deals": 300}, latency=0.02, apply_after=0.5).build()
    crm, journal = zoho.crm, tmp_path / "run.jsonl"
    ids = crm.record_ids("Deals")
    async with zoho.server as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, max_concurrency=10
    ) as client:
        report = await cancelled_run(server, client, ids, journal, at=60)
        assert report.cancelled and 60 <= report.total < 300
        # Within the grace, every record in flight finished with its true outcome.
        assert report.failed == 0 and report.unfinished == 0, report.summary()
        assert report.succeeded == report.total == len(crm.locks("Deals"))
        assert_truthful(report, crm)
        sent_before = len(crm.requests)
        resumed = await client.lock_many("Deals", ids, reason="r", journal=journal, resume=True)
    assert resumed.succeeded == 300 and resumed.resumed == report.total, resumed.summary()
    assert set(crm.locks("Deals")) == set(ids)
    assert crm.writes_applied == 300  # nothing locked twice
    assert len(crm.requests) - sent_before == 300 - report.total  # nothing sent twice


async def test_in_flight_writes_cut_short_are_uncertain_never_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "STOP_GRACE", 0.0)  # no grace: every record in flight is cut
    zoho = OrgSpec(records={"Deals": 300}, latency=0.02, apply_after=0.5).build()
    crm, journal = zoho.crm, tmp_path / "run.jsonl"
    ids = crm.record_ids("Deals")
    async with zoho.server as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, max_concurrency=10
    ) as client:
        report = await cancelled_run(server, client, ids, journal, at=60)
        assert report.failed == 0, report.summary()
        cut = [o for o in report.outcomes if o.status == UNFINISHED]
        assert 1 <= len(cut) <= 10 and {o.code for o in cut} == {"UNCERTAIN"}, report.summary()
        assert all("may or may not have been applied" in o.message for o in cut)
        assert report.unfinished == len(cut) and report.cancelled
        assert "unfinished" in report.summary()
        assert_truthful(report, crm)
        # The fake applied some of them after the client gave up: only a read can tell.
        landed = [o.record_id for o in cut if o.record_id in crm.locks("Deals")]
        sent_before, writes_before = len(crm.requests), crm.writes_applied
        resumed = await client.lock_many("Deals", ids, reason="r", journal=journal, resume=True)
    assert resumed.succeeded == 300, resumed.summary()
    assert sorted(o.record_id for o in resumed.outcomes) == sorted(ids)
    assert set(crm.locks("Deals")) == set(ids)
    assert crm.writes_applied == 300  # the ones that landed were not locked twice
    assert crm.writes_applied - writes_before == 300 - report.succeeded - len(landed)
    # Sent again: the records never finished, plus a read for each that had landed.
    assert len(crm.requests) - sent_before <= 300 - report.succeeded + 2 * len(landed)


async def test_a_second_cancel_ends_at_once() -> None:
    zoho = OrgSpec(records={"Deals": 20}, latency=5.0, apply_after=0.5).build()
    ids = zoho.crm.record_ids("Deals")
    report = BulkReport("lock", "Deals")
    async with zoho.server as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, max_concurrency=4
    ) as client:
        task = asyncio.create_task(client.lock_many("Deals", ids, reason="r", report=report))
        await in_flight(server, 4)
        loop = asyncio.get_running_loop()
        started = loop.time()
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # the records in flight are given their grace...
        task.cancel()  # ...which a second cancel cuts short
        with pytest.raises(asyncio.CancelledError):
            await task
        assert loop.time() - started < 1.0
    assert report.total == 4 and report.unfinished == 4
    assert {o.code for o in report.outcomes} == {"UNCERTAIN"}


async def test_a_record_not_yet_written_is_not_attempted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unlock looks the lock up first: cut before its DELETE, nothing was changed."""
    monkeypatch.setattr(engine, "STOP_GRACE", 0.0)
    crm = FakeCRM()
    ids = crm.add_records("Deals", 4)
    for record_id in ids:
        crm.manual_lock("Deals", record_id)
    report = BulkReport("unlock", "Deals")
    async with FakeServer(crm, latency=5.0) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, max_concurrency=4
    ) as client:
        task = asyncio.create_task(client.unlock_many("Deals", ids, report=report))
        await in_flight(server, 4)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert report.unfinished == 4 and {o.code for o in report.outcomes} == {"CANCELLED"}
    assert all(o.retryable for o in report.outcomes)
