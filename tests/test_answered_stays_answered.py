"""An answer in hand is recorded as answered, even when the shared budget goes away.

A request's permit is given back after its answer arrives. When that fails
(Redis died while the request was out), the answer still stands: a 201 means
the record is locked at the server, so the record is reported succeeded, never
``unfinished``; the run stops cleanly (FLOW_UNAVAILABLE), sending nothing more.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from helpers import TOKEN
from redis_server import RedisServer, binary_or_skip

from zoho_locking import BulkReport, FlowControl, LockingClient, Permit
from zoho_locking.errors import FlowUnavailable
from zoho_locking.flow.redisflow import RedisFlow
from zoho_locking.models import SUCCEEDED, UNFINISHED
from zoho_locking.testing import FakeCRM, FakeServer
from zoho_locking.testing.inprocess import crm_transport


class ReleaseFails:
    """In-process flow control whose `release` fails after *good* answers, and `acquire` then.

    As a `RedisFlow` behaves when Redis goes away while requests are out: the
    permit of a request already answered cannot be given back.
    """

    def __init__(self, good: int) -> None:
        self.inner = FlowControl(max_concurrency=4)
        self.max_concurrency = 4
        self.sleep = self.inner.sleep
        self.good = good
        self.released = 0

    def now(self) -> float:
        return self.inner.now()

    async def acquire(self) -> Permit:
        if self.released > self.good:
            raise FlowUnavailable("the shared budget at redis://127.0.0.1:1/0 is unreachable")
        return await self.inner.acquire()

    async def release(
        self, permit: Permit, status: int | None, *, server_wait: float | None = None
    ) -> None:
        await self.inner.release(permit, status, server_wait=server_wait)
        self.released += 1
        if self.released > self.good:
            raise FlowUnavailable("the shared budget at redis://127.0.0.1:1/0 is unreachable")


def assert_answers_recorded(crm: FakeCRM, report: BulkReport) -> dict[str, str]:
    """Every record locked at the server is reported succeeded with its lock; return statuses."""
    statuses = {o.record_id: o.status for o in report.outcomes}
    by_id = {o.record_id: o for o in report.outcomes}
    for record_id, lock in crm.locks("Deals").items():
        assert statuses.get(record_id) == SUCCEEDED, (record_id, statuses.get(record_id))
        assert by_id[record_id].locking_id == lock.id
    unfinished = {r for r, status in statuses.items() if status == UNFINISHED}
    assert not unfinished & set(crm.locks("Deals")), "a locked record reported unfinished"
    assert unfinished <= set(report.retryable_ids())
    return statuses


async def test_an_answer_whose_permit_cannot_be_given_back_is_recorded() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 100)
    flow = ReleaseFails(good=30)
    async with LockingClient(
        access_token=TOKEN, api_domain="http://fake.invalid", allow_insecure_http=True,
        transport=crm_transport(crm), flow=flow,
    ) as client:  # fmt: skip
        report = await client.lock_many("Deals", ids, reason="r")
    assert report.stopped is not None and report.stopped.code == "FLOW_UNAVAILABLE"
    assert "unreachable" in report.stopped.message
    locked = crm.locks("Deals")
    # From the 31st answer on, permits could not be given back (the 31st and those
    # out with it, at most four in all): each is recorded all the same, and nothing
    # more was sent (every request that went out locked its record).
    assert 31 <= len(locked) <= 34 and len(crm.requests) == len(locked)
    statuses = assert_answers_recorded(crm, report)
    assert list(statuses.values()).count(SUCCEEDED) == len(locked)


async def test_a_single_call_keeps_its_answer_too() -> None:
    crm = FakeCRM()
    deal = crm.add_records("Deals", 1)[0]
    async with LockingClient(
        access_token=TOKEN, api_domain="http://fake.invalid", allow_insecure_http=True,
        transport=crm_transport(crm), flow=ReleaseFails(good=0),
    ) as client:  # fmt: skip
        result = await client.lock("Deals", deal, reason="r")
    lock = crm.lock_of("Deals", deal)
    assert lock is not None and result.id == lock.id and result.http_status == 201


async def test_redis_killed_mid_run_loses_no_answer(tmp_path: Path) -> None:
    redis = RedisServer(binary_or_skip(), tmp_path)
    crm = FakeCRM()
    ids = crm.add_records("Deals", 2000)
    flow = RedisFlow.from_url(redis.url, key="killed", max_concurrency=10, outage_timeout=1.0)
    server = FakeServer(crm, latency=0.02)

    async def kill_with_requests_out() -> tuple[int, int]:
        # Killed while requests are certainly out: held at the server, answered later.
        while True:  # polled: the fake server has no hook to say so
            if crm.writes_applied >= 300 and server.in_flight >= 5:
                break
            await asyncio.sleep(0.001)
        redis.process.kill()  # SIGKILL
        return crm.writes_applied, server.in_flight

    try:
        async with (
            server,
            LockingClient(access_token=TOKEN, api_domain=server.url, flow=flow) as client,
        ):
            killer = asyncio.create_task(kill_with_requests_out())
            report = await client.lock_many("Deals", ids, reason="r")
            assert killer.done(), "the run ended before Redis was killed"
            locked_before, out = await killer
    finally:
        await flow.aclose()
        redis.stop()
    assert report.stopped is not None and report.stopped.code == "FLOW_UNAVAILABLE"
    locked = crm.locks("Deals")
    print(f"{len(locked)} locked: {locked_before} before the kill, {out} out at the server")
    # The requests out at the kill were answered, and their permits never given back.
    assert len(locked) >= locked_before + out
    statuses = assert_answers_recorded(crm, report)
    assert list(statuses.values()).count(SUCCEEDED) == len(locked)
    assert len(crm.requests) == len(locked), "nothing sent after Redis went away"
