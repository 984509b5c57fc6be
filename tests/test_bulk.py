"""The bulk engine end to end: faults, truth of the report, 429 pauses, memory, resume."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest
from helpers import FakeClock

from zoho_locking import BulkReport, LockingClient, MockTransport, Response, RetryPolicy
from zoho_locking.models import FAILED, SKIPPED, SUCCEEDED
from zoho_locking.testing import FakeCRM, FakeServer, Faults
from zoho_locking.testing.inprocess import crm_transport
from zoho_locking.wire.protocol import Request

TOKEN = FakeCRM.DEFAULT_TOKEN
FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.001, max_delay=0.01)


def inprocess_client(crm: FakeCRM, **kwargs: object) -> LockingClient:
    return LockingClient(
        access_token=TOKEN,
        api_domain="http://127.0.0.1:9",
        transport=crm_transport(crm),
        **kwargs,  # type: ignore[arg-type]
    )


def assert_each_id_once(report: BulkReport, ids: list[str]) -> None:
    seen = [o.record_id for o in report.outcomes]
    assert sorted(seen) == sorted(set(ids)), "every id exactly once"
    assert report.total == len(set(ids))
    assert report.succeeded + report.failed + report.skipped == report.total
    assert sum(report.by_code.values()) == report.total


def assert_locks_match(report: BulkReport, crm: FakeCRM, module: str = "Deals") -> None:
    """A lock or skip means the record is locked now; a failure that it is not, unless
    the record was locked before by someone else (automatic locks)."""
    locks = crm.locks(module)
    for outcome in report.outcomes:
        lock = locks.get(outcome.record_id)
        if outcome.status == SUCCEEDED:
            assert lock is not None and lock.id == outcome.locking_id, outcome
            assert lock.source == "Manual"
        elif outcome.status == SKIPPED:
            assert lock is not None, outcome
        else:
            assert lock is None or lock.source == "Automatic" or outcome.code == "UNCERTAIN", (
                outcome,
                lock,
            )


def assert_unlocks_match(report: BulkReport, crm: FakeCRM, module: str = "Deals") -> None:
    locks = crm.locks(module)
    for outcome in report.outcomes:
        lock = locks.get(outcome.record_id)
        if outcome.status in (SUCCEEDED, SKIPPED):
            assert lock is None, outcome
        elif outcome.code != "UNCERTAIN":
            assert lock is not None, outcome


# -- against the fake server over loopback, with faults ------------------------


@pytest.fixture
def faulty_crm() -> FakeCRM:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 600)
    for record_id in ids[:30]:
        crm.auto_lock("Deals", record_id)
    for record_id in ids[30:40]:
        crm.deny("Deals", record_id)
    crm.faults = Faults(
        error_500_rate=0.08,
        applied_500_rate=0.05,
        html_502_rate=0.03,
        drop_rate=0.03,
        applied_drop_rate=0.03,
        seed=7,
    )
    return crm


async def test_all_four_operations_tell_the_truth_under_faults(faulty_crm: FakeCRM) -> None:
    crm = faulty_crm
    ids = crm.record_ids("Deals")
    async with FakeServer(crm, latency=0.001, concurrency_limit=6) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, max_concurrency=12, retry=FAST_RETRY
    ) as client:
        locked = await client.lock_many("Deals", ids + ids[:50], reason="quarter close")
        assert_each_id_once(locked, ids)
        assert locked.duplicates == 50
        assert_locks_match(locked, crm)
        assert locked.by_code.get("ALREADY_LOCKED") == 30
        assert locked.by_code.get("NO_PERMISSION") == 10
        assert locked.succeeded >= 550
        assert locked.throttled > 0 and locked.retries > 0

        state = await client.get_many("Deals", ids)
        assert_each_id_once(state, ids)
        for outcome in state.outcomes:
            lock = crm.lock_of("Deals", outcome.record_id)
            if outcome.code == "LOCKED":
                assert lock is not None and lock.id == outcome.locking_id
            elif outcome.code == "NOT_LOCKED":
                assert lock is None

        updated = await client.update_many("Deals", ids, reason="new reason")
        assert_each_id_once(updated, ids)
        for outcome in updated.outcomes:
            lock = crm.lock_of("Deals", outcome.record_id)
            if outcome.status == SUCCEEDED:
                assert lock is not None and lock.reason == "new reason"
        assert updated.by_code.get("NOT_ALLOWED", 0) >= 30  # automatic locks

        unlocked = await client.unlock_many("Deals", ids)
        assert_each_id_once(unlocked, ids)
        assert_unlocks_match(unlocked, crm)
        assert unlocked.by_code.get("NOT_ALLOWED", 0) >= 30
    assert server.peak_in_flight <= 6


async def test_lock_applied_but_answer_lost_is_reported_locked() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 20)
    crm.faults = Faults(applied_500_rate=1.0)
    async with inprocess_client(crm, retry=FAST_RETRY) as client:
        report = await client.lock_many("Deals", ids, reason="r")
    assert report.succeeded == 20, report.summary()
    for outcome in report.outcomes:
        lock = crm.lock_of("Deals", outcome.record_id)
        assert lock is not None and lock.id == outcome.locking_id
        assert "confirmed" in outcome.message
    assert crm.writes_applied == 20  # never locked twice


async def test_unlock_applied_but_connection_dropped_is_reported_unlocked() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 20)
    for record_id in ids:
        crm.manual_lock("Deals", record_id)
    crm.faults = Faults(applied_drop_rate=1.0)
    async with inprocess_client(crm, retry=FAST_RETRY) as client:
        report = await client.unlock_many("Deals", ids)
    assert report.succeeded == 20, report.summary()
    assert crm.locks("Deals") == {}


async def test_lock_skips_locked_and_fails_automatic_only_module() -> None:
    crm = FakeCRM()
    deals = crm.add_records("Deals", 3)
    cases = crm.add_records("Cases", 2)
    crm.manual_lock("Deals", deals[0], reason="someone else")
    async with inprocess_client(crm) as client:
        report = await client.lock_many("Deals", deals, reason="mine")
        automatic_only = await client.lock_many("Cases", cases, reason="mine")
    skipped = report.outcome_for(deals[0])
    assert skipped is not None and (skipped.status, skipped.code) == (SKIPPED, "ALREADY_LOCKED")
    assert report.succeeded == 2
    assert automatic_only.failed == 2 and automatic_only.by_code == {"NOT_ALLOWED": 2}


async def test_unlock_and_update_accept_pairs_and_skip_unlocked() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 4)
    lock_a = crm.manual_lock("Deals", ids[0])
    crm.manual_lock("Deals", ids[1])
    async with inprocess_client(crm) as client:
        updated = await client.update_many("Deals", [(ids[0], lock_a), ids[1], ids[2]], reason="x")
        assert updated.by_code == {"SUCCESS": 2, "NOT_LOCKED": 1}
        before = len(crm.requests)
        unlocked = await client.unlock_many("Deals", [(ids[0], lock_a), ids[1], ids[2]])
    assert unlocked.by_code == {"SUCCESS": 2, "NOT_LOCKED": 1}
    assert unlocked.outcome_for(ids[2]).status == SKIPPED  # type: ignore[union-attr]
    # The pair skipped the look-up: 1 DELETE, GET+DELETE, GET.
    assert len(crm.requests) - before == 4
    assert crm.locks("Deals") == {}


async def test_invalid_and_duplicate_ids_are_reported_once_and_never_sent() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 3)
    bad = ["123/../settings", "", " 12", "%2F", "-5", "1" * 20, "9" * 19, None, 1.5, "x"]
    async with inprocess_client(crm) as client:
        report = await client.lock_many(
            "Deals", [*ids, *bad, ids[0], "123/../settings", int(ids[1])], reason="r"
        )
    assert report.succeeded == 3
    assert report.by_code["VALIDATION_ERROR"] == len(bad)
    assert report.duplicates == 3
    assert report.total == 3 + len(bad)
    sent_paths = [r.path for r in crm.requests]
    assert all("/../" not in p and "%2F" not in p for p in sent_paths)
    assert len(sent_paths) == 3


async def test_async_iterable_input() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 50)

    async def stream() -> AsyncIterator[str]:
        for record_id in ids:
            await asyncio.sleep(0)
            yield record_id

    async with inprocess_client(crm) as client:
        report = await client.lock_many("Deals", stream(), reason="r")
    assert report.succeeded == 50


async def test_bad_call_arguments_raise_before_sending() -> None:
    crm = FakeCRM()
    async with inprocess_client(crm) as client:
        for call in (
            client.lock_many("Deals", "5843104000001000001", reason="r"),
            client.lock_many("De/als", ["1"], reason="r"),
            client.lock_many("Deals", ["1"], reason=""),
            client.update_many("Deals", ["1"], reason="x" * 3001),
            client.get_many("Deals", 12345),  # type: ignore[arg-type]
        ):
            with pytest.raises(ValueError):
                await call
    assert crm.requests == []


async def test_progress_callback_sees_every_record() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 30)
    calls: list[tuple[int, int | None]] = []
    async with inprocess_client(crm) as client:
        await client.lock_many(
            "Deals", ids, reason="r", progress=lambda done, total, _: calls.append((done, total))
        )
    assert calls[-1] == (30, 30)
    assert [done for done, _ in calls] == list(range(1, 31))


# -- flow control: 429 pauses everyone, and never storms -----------------------


async def test_a_429_pauses_every_worker() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 40)
    time = FakeClock()
    inner = crm_transport(crm)
    sent: list[float] = []
    refused_at: list[float] = []

    async def handler(request: Request, auth: Mapping[str, str]) -> Response:
        sent.append(time.now())
        if len(sent) == 5:
            refused_at.append(time.now())
            body = b'{"code":"TOO_MANY_REQUESTS","details":{},"message":"x","status":"error"}'
            return Response(429, {}, body)
        await asyncio.sleep(0)
        return await inner.send(request, auth)

    async with LockingClient(
        access_token=TOKEN,
        api_domain="http://127.0.0.1:9",
        transport=MockTransport(handler),
        clock=time.now,
        sleep=time.sleep,
        max_concurrency=8,
    ) as client:
        report = await client.lock_many("Deals", ids, reason="r")
    assert report.succeeded == 40 and report.throttled == 1
    (t429,) = refused_at
    after = [t for t in sent[5:]]
    # Requests already in flight finish; every request *sent* after the 429 waited.
    assert min(after[8:]) >= t429 + client.flow.min_pause - 1e-9
    assert time.sleeps and time.sleeps[0] >= client.flow.min_pause - 1e-9


async def test_sustained_429s_slow_down_instead_of_storming() -> None:
    time = FakeClock()
    sent: list[float] = []

    def handler(request: Request, auth: Mapping[str, str]) -> Response:
        sent.append(time.now())
        body = b'{"code":"TOO_MANY_REQUESTS","details":{},"message":"x","status":"error"}'
        return Response(429, {}, body)

    ids = [str(5843104000001000000 + i) for i in range(100)]
    async with LockingClient(
        access_token=TOKEN,
        api_domain="http://127.0.0.1:9",
        transport=MockTransport(handler),
        clock=time.now,
        sleep=time.sleep,
        max_concurrency=20,
        retry=RetryPolicy(max_attempts=3, deadline=None, stall_timeout=None),
    ) as client:
        report = await client.lock_many("Deals", ids, reason="r")
        assert client.flow.limit == 1
    assert report.failed == 100 and report.by_code == {"TOO_MANY_REQUESTS": 100}
    assert len(sent) == 300  # the attempt cap holds
    # The pause doubled: the last 100 requests are spread over a long time.
    assert sent[-1] - sent[-100] > 60.0


async def test_adaptive_limit_finds_the_server_limit_with_few_429s() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 1500)
    async with FakeServer(crm, latency=0.004, concurrency_limit=5) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, max_concurrency=20, retry=FAST_RETRY
    ) as client:
        report = await client.lock_many("Deals", ids, reason="r")
    assert report.succeeded == 1500
    # Cap 20 against a limit of 5: the client backs off to the server's limit.
    assert report.throttled < 0.05 * report.requests, report.summary()


# -- memory, cancellation and resume --------------------------------------------


async def test_memory_stays_flat_over_a_large_generator() -> None:
    ok = (
        b'{"data":[{"code":"SUCCESS","details":{"id":"5843104000000804020"},'
        b'"message":"record added","status":"success"}]}'
    )

    def handler(request: Request, auth: Mapping[str, str]) -> Response:
        return Response(201, {}, ok)

    def ids(count: int) -> Iterator[str]:
        base = 5843104000000000000
        for i in range(count):
            yield str(base + i)

    async def peak_for(count: int) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            async with LockingClient(
                access_token=TOKEN,
                api_domain="http://127.0.0.1:9",
                transport=MockTransport(handler),
            ) as client:
                report = await client.lock_many(
                    "Deals", ids(count), reason="r", keep_successes=False
                )
            assert report.succeeded == count and report.outcomes == []
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small = await peak_for(6_000)
    large = await peak_for(60_000)
    # Ten times the ids: the engine grows only by its id set (~16 bytes an id),
    # where keeping outcomes or a set of strings would cost over 150 bytes an id.
    assert large < 5_000_000, large
    assert large - small < 60_000 * 40, (small, large)


async def test_cancel_leaves_a_partial_report_and_flushed_journal(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 200)
    journal = tmp_path / "run.jsonl"
    report = BulkReport("lock", "Deals")

    def progress(done: int, total: int | None, _: BulkReport) -> None:
        if done == 50:
            task.cancel()

    async with FakeServer(crm, latency=0.002) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, max_concurrency=8
    ) as client:
        task = asyncio.create_task(
            client.lock_many(
                "Deals", ids, reason="r", journal=journal, report=report, progress=progress
            )
        )
        with pytest.raises(asyncio.CancelledError):
            await task
    assert report.cancelled
    assert 50 <= report.total < 200
    assert len({o.record_id for o in report.outcomes}) == report.total
    lines = journal.read_text().splitlines()
    assert len([line for line in lines if '"status"' in line]) == report.total


async def test_resume_after_interruption_completes_as_if_never_stopped(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 300)
    journal = tmp_path / "run.jsonl"

    def stop_at_120(done: int, total: int | None, _: BulkReport) -> None:
        if done == 120:
            task.cancel()

    async with FakeServer(crm, latency=0.002) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, max_concurrency=8
    ) as client:
        task = asyncio.create_task(
            client.lock_many("Deals", ids, reason="r", journal=journal, progress=stop_at_120)
        )
        with pytest.raises(asyncio.CancelledError):
            await task
        first_requests = len(crm.requests)
        resumed = await client.lock_many("Deals", ids, reason="r", journal=journal, resume=True)
    assert_each_id_once(resumed, ids)
    assert resumed.succeeded == 300, resumed.summary()
    assert resumed.resumed >= 100
    assert set(crm.locks("Deals")) == set(ids)
    assert crm.writes_applied == 300  # nothing locked twice
    # Only the unfinished records were sent again (plus read-backs of in-flight ones).
    assert len(crm.requests) - first_requests < 300 - 100 + 3 * 8


async def test_journal_of_another_operation_is_refused(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 3)
    journal = tmp_path / "run.jsonl"
    async with inprocess_client(crm) as client:
        await client.lock_many("Deals", ids, reason="r", journal=journal)
        with pytest.raises(Exception, match="already holds a run"):
            await client.lock_many("Deals", ids, reason="r", journal=journal)
        with pytest.raises(Exception, match="is for lock Deals"):
            await client.unlock_many("Deals", ids, journal=journal, resume=True)
    assert oct(journal.stat().st_mode & 0o777) == "0o600"


def test_report_json_round_trip() -> None:
    report = BulkReport("lock", "Deals")
    from zoho_locking import Outcome

    report.add(Outcome("1", SUCCEEDED, "SUCCESS", "record added", 201, "9", 1))
    report.add(Outcome("2", FAILED, "NOT_ALLOWED", "nope", 403, None, 1))
    report.add(Outcome("3", SKIPPED, "ALREADY_LOCKED", "locked", 403, "7", 2))
    data = report.to_dict()
    assert data["by_code"] == {"SUCCESS": 1, "NOT_ALLOWED": 1, "ALREADY_LOCKED": 1}
    assert data["outcomes"][0] == {
        "record_id": "1",
        "status": "succeeded",
        "code": "SUCCESS",
        "message": "record added",
        "http_status": 201,
        "locking_id": "9",
        "attempts": 1,
    }
    again = BulkReport.from_json(report.to_json())
    assert again.to_dict() == data
