"""Per-call deadlines (``timeout=``) and retry policies (``retry=``), and a caller's cancellation.

Unit tests run in process (`crm_transport` wrapped so that answers wait on a
gate the test opens), the backoff ones on a fake clock; the end-to-end ones
against the fake server with latency, over loopback.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Mapping

import pytest
from helpers import TOKEN, FakeClock

from zoho_locking import (
    ApiError,
    FlowControl,
    LockingClient,
    RefreshTokenAuth,
    RequestTimeout,
    RetryPolicy,
    UncertainOutcome,
    ValidationError,
)
from zoho_locking.http.transport import Response
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer, Faults
from zoho_locking.testing.inprocess import crm_transport
from zoho_locking.wire.protocol import Request


class Gated:
    """An in-process CRM whose answers to the requests *held* picks wait for `gate`."""

    def __init__(self, crm: FakeCRM, held: Callable[[Request], bool] = lambda _: True) -> None:
        self.inner = crm_transport(crm)
        self.held = held
        self.gate = asyncio.Event()
        self.arrived = asyncio.Event()
        self.sent: list[str] = []
        #: Seconds every answer not held takes (so that calls overlap).
        self.delay = 0.0

    async def send(self, request: Request, auth_headers: Mapping[str, str]) -> Response:
        self.sent.append(request.method)
        self.arrived.set()
        if self.held(request):
            await self.gate.wait()
        elif self.delay:
            await asyncio.sleep(self.delay)
        return await self.inner.send(request, auth_headers)

    async def aclose(self) -> None:
        self.gate.set()


def client_on(transport: object, **options: object) -> LockingClient:
    return LockingClient(
        access_token=TOKEN, api_domain="http://fake.invalid", allow_insecure_http=True,
        transport=transport, **options,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def crm() -> FakeCRM:
    crm = FakeCRM()
    crm.add_records("Deals", 30)
    return crm


def in_flight(client: LockingClient) -> int:
    assert isinstance(client.flow, FlowControl)
    return client.flow.in_flight


# -- what the caller gets when the deadline passes ----------------------------------------


async def test_a_write_cut_short_in_flight_is_uncertain_and_nothing_is_held(crm: FakeCRM) -> None:
    transport = Gated(crm)
    deal = crm.record_ids("Deals")[0]
    async with client_on(transport) as client:
        started = asyncio.get_running_loop().time()
        with pytest.raises(UncertainOutcome) as caught:
            await client.lock("Deals", deal, reason="r", timeout=0.05)
        assert asyncio.get_running_loop().time() - started < 0.5
        assert "timeout of 0.05s" in str(caught.value) and "read the record" in str(caught.value)
        assert in_flight(client) == 0
        transport.held = lambda _: False
        assert (await client.lock("Deals", deal, reason="r")).http_status == 201


async def test_a_read_cut_short_is_a_request_timeout(crm: FakeCRM) -> None:
    async with client_on(Gated(crm)) as client:
        with pytest.raises(RequestTimeout) as caught:
            await client.get_locks("Deals", crm.record_ids("Deals")[0], timeout=0.05)
        assert caught.value.maybe_sent and in_flight(client) == 0
    assert not isinstance(caught.value, UncertainOutcome)


async def test_a_write_that_never_got_a_permit_was_not_applied(crm: FakeCRM) -> None:
    transport = Gated(crm)
    ids = crm.record_ids("Deals")
    async with client_on(transport, max_concurrency=1) as client:
        holder = asyncio.create_task(client.lock("Deals", ids[0], reason="r"))
        await transport.arrived.wait()
        with pytest.raises(RequestTimeout) as caught:
            await client.lock("Deals", ids[1], reason="r", timeout=0.05)
        assert not caught.value.maybe_sent and "was not applied" in str(caught.value)
        assert transport.sent == ["POST"]  # the second lock never went out
        transport.gate.set()
        assert (await holder).http_status == 201
        assert in_flight(client) == 0
    assert crm.lock_of("Deals", ids[1]) is None


async def test_backoff_never_sleeps_past_the_deadline(crm: FakeCRM) -> None:
    crm.faults = Faults(error_500_rate=1.0)
    clock = FakeClock()
    patient = RetryPolicy(max_attempts=50, base_delay=1.0, max_delay=1.0, deadline=None)
    async with client_on(
        crm_transport(crm), retry=patient, clock=clock.now, sleep=clock.sleep,
        rng=random.Random(7),
    ) as client:  # fmt: skip
        with pytest.raises(ApiError) as caught:  # the last answer: no time for another try
            await client.get_locks("Deals", crm.record_ids("Deals")[0], timeout=2.5)
    assert caught.value.http_status == 500
    assert 1 < len(crm.requests) < 50
    assert clock.t < 1000 + 2.5 and sum(clock.sleeps) < 2.5


async def test_a_write_out_of_time_after_a_500_is_settled_or_uncertain(crm: FakeCRM) -> None:
    crm.faults = Faults(error_500_rate=1.0)
    clock = FakeClock()
    patient = RetryPolicy(max_attempts=50, base_delay=1.0, max_delay=1.0, deadline=None)
    async with client_on(
        crm_transport(crm), retry=patient, clock=clock.now, sleep=clock.sleep,
        rng=random.Random(7),
    ) as client:  # fmt: skip
        with pytest.raises(UncertainOutcome):
            await client.lock("Deals", crm.record_ids("Deals")[0], reason="r", timeout=2.5)
    # The settling reads got what was left, and no more.
    assert {r.method for r in crm.requests} == {"POST", "GET"} and clock.t < 1000 + 2.5


async def test_the_token_request_counts_against_the_deadline(crm: FakeCRM) -> None:
    accounts = FakeAccounts(latency=2.0)
    async with FakeServer(crm, accounts=accounts) as server, RefreshTokenAuth(
        client_id=accounts.client_id, client_secret=accounts.client_secret,
        refresh_token=accounts.refresh_token, accounts_url=server.url,
    ) as auth, LockingClient(auth=auth) as client:  # fmt: skip
        with pytest.raises(RequestTimeout) as caught:
            await client.lock("Deals", crm.record_ids("Deals")[0], reason="r", timeout=0.2)
        assert not caught.value.maybe_sent and crm.requests == []
        accounts.latency = 0.0
        # Nothing of the cut mint is held: the next call mints and locks.
        result = await client.lock("Deals", crm.record_ids("Deals")[0], reason="r")
    assert result.http_status == 201


@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf, "1", True])
async def test_bad_timeouts_and_policies_are_refused(crm: FakeCRM, seconds: object) -> None:
    async with client_on(crm_transport(crm)) as client:
        with pytest.raises(ValidationError) as caught:
            await client.get_locks("Deals", "5843104000001000001", timeout=seconds)  # type: ignore[arg-type]
        assert caught.value.field == "timeout"
        with pytest.raises(ValidationError):
            await client.lock_many("Deals", ["5843104000001000001"], reason="r", timeout=seconds)  # type: ignore[typeddict-item]
        with pytest.raises(ValidationError) as caught:
            await client.unlock("Deals", "1", "2", retry=5)  # type: ignore[arg-type]
        assert caught.value.field == "retry"
    assert crm.requests == []


# -- the caller's own cancellation --------------------------------------------------------


async def test_a_callers_cancellation_of_a_write_leaves_nothing_held(crm: FakeCRM) -> None:
    transport = Gated(crm)
    deal = crm.record_ids("Deals")[0]
    async with client_on(transport, max_concurrency=2) as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await client.lock("Deals", deal, reason="r")
        # The write was in flight: whether it landed is unknown (here the in-process CRM
        # never saw it; a real server may have). The client holds nothing.
        assert in_flight(client) == 0
        transport.held, transport.delay = (lambda _: False), 0.01
        results = await asyncio.gather(
            *(client.lock("Deals", d, reason="r") for d in crm.record_ids("Deals")[1:5])
        )
        assert [r.http_status for r in results] == [201] * 4
        assert client.flow.peak_in_flight == 2  # type: ignore[attr-defined]


async def test_redis_leases_come_back_after_a_deadline_and_a_cancellation(
    crm: FakeCRM, redis_url: str
) -> None:
    import redis.asyncio as aioredis

    from zoho_locking.flow.redisflow import RedisFlow

    flow = RedisFlow.from_url(redis_url, key="deadline-test", max_concurrency=3)
    watcher = aioredis.Redis.from_url(redis_url)
    transport = Gated(crm)
    ids = crm.record_ids("Deals")
    try:
        async with client_on(transport, flow=flow) as client:
            with pytest.raises(UncertainOutcome):
                await client.unlock("Deals", ids[0], "5843104000009000001", timeout=0.1)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await client.lock("Deals", ids[1], reason="r")
            assert await watcher.zcard("{deadline-test}:leases") == 0
            transport.held = lambda _: False
            assert (await client.lock("Deals", ids[2], reason="r", timeout=5)).http_status == 201
    finally:
        await watcher.aclose()
        await flow.aclose()


# -- per-call retry, and bulk calls ------------------------------------------------------


async def test_retry_per_call_overrides_the_clients_for_that_call_only() -> None:
    crm = FakeCRM(faults=Faults(error_500_rate=1.0))
    (deal,) = crm.add_records("Deals", 1)
    fast = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002)
    async with FakeServer(crm) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, retry=fast
    ) as client:  # fmt: skip
        with pytest.raises(ApiError) as caught:
            await client.get_locks("Deals", deal, retry=RetryPolicy(max_attempts=1))
        assert caught.value.http_status == 500
        assert len(crm.requests) == 1
        with pytest.raises(ApiError):
            await client.get_locks("Deals", deal)
        assert len(crm.requests) == 1 + 4
        with pytest.raises(UncertainOutcome):  # a 500 may hide a landed write
            await client.lock("Deals", deal, reason="r", retry=RetryPolicy(max_attempts=1))
    assert [r.method for r in crm.requests[5:]].count("POST") == 1


async def test_bulk_timeout_is_per_record_and_retry_per_run(crm: FakeCRM) -> None:
    ids = crm.record_ids("Deals")
    stuck = ids[3]
    transport = Gated(crm, held=lambda request: stuck in request.url)
    async with client_on(transport, max_concurrency=5) as client:
        report = await client.lock_many("Deals", ids[:10], reason="r", timeout=0.1)
        assert in_flight(client) == 0
    assert report.by_code == {"SUCCESS": 9, "UNCERTAIN": 1}
    (uncertain,) = [o for o in report.outcomes if o.code == "UNCERTAIN"]
    assert uncertain.record_id == stuck

    crm.faults = Faults(error_500_rate=1.0)
    fast = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002)
    async with client_on(crm_transport(crm), retry=fast) as client:
        before = len(crm.requests)
        report = await client.lock_many(
            "Deals", ids[10:15], reason="r", retry=RetryPolicy(max_attempts=1)
        )
    posts = [r for r in crm.requests[before:] if r.method == "POST"]
    assert len(posts) == 5 and report.by_code == {"UNCERTAIN": 5}


# -- end to end: a slow server ------------------------------------------------------------


async def test_a_half_second_deadline_on_a_two_second_server() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 22)
    async with FakeServer(crm, latency=2.0) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, max_concurrency=20
    ) as client:  # fmt: skip
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RequestTimeout):
            await client.get_locks("Deals", ids[0], timeout=0.5)
        read_took = loop.time() - started
        started = loop.time()
        with pytest.raises(UncertainOutcome):
            await client.lock("Deals", ids[1], reason="r", timeout=0.5)
        write_took = loop.time() - started
        assert 0.45 <= read_took < 1.0 and 0.45 <= write_took < 1.0, (read_took, write_took)
        assert in_flight(client) == 0
        # The same client, at once: 20 calls, all in flight together, all answered.
        locks = await asyncio.gather(
            *(client.lock("Deals", deal, reason="r", timeout=10) for deal in ids[2:])
        )
        assert client.flow.peak_in_flight == 20  # type: ignore[attr-defined]
        assert [lock.http_status for lock in locks] == [201] * 20
        # The write the deadline cut short did reach the server: that is why it was uncertain.
        assert crm.lock_of("Deals", ids[1]) is not None
    print(f"deadline 0.5 s on a 2 s server: read {read_took:.3f} s, write {write_took:.3f} s")


async def test_a_deadline_scope_turns_only_its_own_cancellation_into_timeout_error() -> None:
    from zoho_locking.http.deadline import Bound

    # Its own: the timer fires (at once: no real waiting), the work inside is
    # cancelled, and TimeoutError comes out.
    bound = Bound(0.0)
    with pytest.raises(TimeoutError), bound:
        await asyncio.Event().wait()
    assert bound.expired()
    # Someone else's cancellation passes through as it is.
    outer = Bound(60.0)

    async def work() -> None:
        with outer:
            await asyncio.Event().wait()

    task = asyncio.create_task(work())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not outer.expired()
    # Left in time: the timer is disarmed, so no cancellation comes later.
    with Bound(0.0):
        pass
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


class _Renewing:
    """A token provider whose first token the CRM rejects; *renewed* is set when it may renew."""

    def __init__(self) -> None:
        self.token = "stale-token"
        self.renewed = asyncio.Event()

    async def get_token(self) -> str:
        return self.token

    async def refresh(self, rejected: str) -> str | None:
        await self.renewed.wait()
        self.token = TOKEN
        return TOKEN


def _rejecting_stale(crm: FakeCRM) -> object:
    inner = crm_transport(crm)
    invalid = b'{"code":"INVALID_TOKEN","message":"invalid oauth token","status":"error"}'

    async def send(request: Request, auth_headers: Mapping[str, str]) -> Response:
        if "stale-token" in auth_headers.get("Authorization", ""):
            return Response(401, {}, invalid)
        return await inner.send(request, auth_headers)

    from zoho_locking import MockTransport

    return MockTransport(send)


async def test_a_refresh_after_401_within_the_deadline_goes_on(crm: FakeCRM) -> None:
    auth = _Renewing()
    auth.renewed.set()
    async with LockingClient(
        auth=auth, api_domain="http://fake.invalid", allow_insecure_http=True,  # type: ignore[arg-type]
        transport=_rejecting_stale(crm),  # type: ignore[arg-type]
    ) as client:  # fmt: skip
        result = await client.lock("Deals", crm.record_ids("Deals")[0], reason="r", timeout=5.0)
    assert result.http_status == 201


async def test_a_refresh_after_401_that_outlasts_the_deadline_is_a_timeout(crm: FakeCRM) -> None:
    auth = _Renewing()  # never allowed to renew
    async with LockingClient(
        auth=auth, api_domain="http://fake.invalid", allow_insecure_http=True,  # type: ignore[arg-type]
        transport=_rejecting_stale(crm),  # type: ignore[arg-type]
    ) as client:  # fmt: skip
        with pytest.raises(RequestTimeout) as caught:
            await client.get_locks("Deals", crm.record_ids("Deals")[0], timeout=0.05)
    # The GET went out and was answered 401: it was sent, nothing is held.
    assert caught.value.maybe_sent
    assert in_flight(client) == 0


async def test_a_token_that_outlasts_the_deadline_sends_nothing(crm: FakeCRM) -> None:
    class Hanging:
        async def get_token(self) -> str:
            await asyncio.Event().wait()
            return TOKEN

        async def refresh(self, rejected: str) -> str | None:
            return None

    async with LockingClient(
        auth=Hanging(), api_domain="http://fake.invalid", allow_insecure_http=True,  # type: ignore[arg-type]
        transport=crm_transport(crm),
    ) as client:  # fmt: skip
        with pytest.raises(RequestTimeout) as caught:
            await client.lock("Deals", crm.record_ids("Deals")[0], reason="r", timeout=0.05)
    assert not caught.value.maybe_sent and crm.requests == []
    assert in_flight(client) == 0


async def test_an_unlock_whose_answers_were_all_faults_is_settled_by_the_record(
    crm: FakeCRM,
) -> None:
    # Every DELETE answers 500 (it may have been applied behind a proxy), so the
    # client reads the record: the lock is still there, so the fault is the answer.
    record = crm.record_ids("Deals")[0]
    locking_id = crm.manual_lock("Deals", record)
    inner = crm_transport(crm)

    async def send(request: Request, auth_headers: Mapping[str, str]) -> Response:
        if request.method == "DELETE":
            return Response(500, {}, b'{"code":"INTERNAL_ERROR","message":"m","status":"error"}')
        return await inner.send(request, auth_headers)

    from zoho_locking import MockTransport

    no_wait = RetryPolicy(max_attempts=2, base_delay=0.0)
    async with client_on(MockTransport(send), retry=no_wait) as client:
        with pytest.raises(ApiError) as caught:
            await client.unlock("Deals", record, locking_id)
        assert caught.value.code == "INTERNAL_ERROR"
        # The record was read to settle it: its lock is there, untouched.
        assert [lock.id for lock in await client.get_locks("Deals", record)] == [locking_id]


async def test_a_bug_under_one_record_costs_that_record_only(crm: FakeCRM) -> None:
    ids = crm.record_ids("Deals")[:5]
    inner = crm_transport(crm)

    async def send(request: Request, auth_headers: Mapping[str, str]) -> Response:
        if ids[2] in request.url:
            raise RuntimeError("a bug in a transport")
        return await inner.send(request, auth_headers)

    from zoho_locking import MockTransport

    async with client_on(MockTransport(send)) as client:
        report = await client.lock_many("Deals", ids, reason="r")
    assert report.succeeded == 4 and report.stopped is None
    (failed,) = [o for o in report.outcomes if o.status == "failed"]
    assert (failed.record_id, failed.code) == (ids[2], "INTERNAL_CLIENT_ERROR")
    assert "RuntimeError: a bug in a transport" in failed.message
