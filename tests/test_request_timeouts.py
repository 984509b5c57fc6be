"""The per-request timeout: one timer for every request in flight (`RequestTimeouts`).

Over loopback against the fake CRM with latency: a request past its timeout raises
`RequestTimeout` (each at its own time, however many began before it), a request
cancelled by its caller raises `CancelledError` and nothing else, and the timer
keeps working after either.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from zoho_locking import RequestTimeout
from zoho_locking.http.transport import AiohttpTransport, RequestTimeouts
from zoho_locking.testing import FakeCRM, FakeServer
from zoho_locking.wire import protocol

TOKEN = FakeCRM.DEFAULT_TOKEN
AUTH = protocol.authorization(TOKEN)


def get_locks(server: FakeServer, record_id: str) -> protocol.Request:
    return protocol.build_get_locks(f"{server.url}/crm/v8", "Deals", record_id)


@contextlib.asynccontextmanager
async def opened(**settings: Any) -> AsyncIterator[AiohttpTransport]:
    """An `AiohttpTransport` with *settings*, closed at the end."""
    transport = AiohttpTransport(**settings)
    try:
        yield transport
    finally:
        await transport.aclose()


async def held(timeouts: RequestTimeouts, wait: float, dues: list[Any] | None = None) -> str:
    """A request of *wait* seconds under *timeouts*: answered, timed out or cancelled."""
    due = timeouts.begin()
    if dues is not None:
        dues.append(due)
    try:
        await asyncio.sleep(wait)
    except asyncio.CancelledError:
        return "timed out" if timeouts.timed_out(due) else "cancelled"
    finally:
        timeouts.end(due)
    return "answered"


async def test_a_slow_answer_times_out_and_the_next_request_goes_through(
    fake_server: FakeServer, fake_crm: FakeCRM
) -> None:
    record = fake_crm.record_ids("Deals")[0]
    async with opened(timeout=0.1) as transport:
        fake_server.latency = 1.0
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(RequestTimeout, match=r"timed out after 0\.1s") as caught:
            await transport.send(get_locks(fake_server, record), AUTH)
        assert 0.1 <= loop.time() - began < 0.9
        assert caught.value.maybe_sent
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
        fake_server.latency = 0.0
        response = await transport.send(get_locks(fake_server, record), AUTH)
        assert response.status == 204


async def test_each_request_is_cut_at_its_own_time(
    fake_server: FakeServer, fake_crm: FakeCRM
) -> None:
    """The timer, set for the first request, is set again for one that began later."""
    first, second = fake_crm.record_ids("Deals")[:2]
    loop = asyncio.get_running_loop()
    async with opened(timeout=0.3) as transport:
        fake_server.latency = 0.0
        assert (await transport.send(get_locks(fake_server, first), AUTH)).status == 204
        await asyncio.sleep(0.15)  # the timer set for the first request is still ahead
        fake_server.latency = 2.0
        began = loop.time()
        with pytest.raises(RequestTimeout):
            await transport.send(get_locks(fake_server, second), AUTH)
        assert 0.3 <= loop.time() - began < 1.5


async def test_many_requests_in_flight_each_time_out_once(
    fake_server: FakeServer, fake_crm: FakeCRM
) -> None:
    records = fake_crm.record_ids("Deals")[:20]
    async with opened(timeout=0.1, pool_size=20) as transport:
        fake_server.latency = 1.0
        outcomes = await asyncio.gather(
            *(transport.send(get_locks(fake_server, r), AUTH) for r in records),
            return_exceptions=True,
        )
        assert all(isinstance(o, RequestTimeout) for o in outcomes), outcomes


async def test_a_caller_cancelling_gets_cancelled_error_not_a_timeout(
    fake_server: FakeServer, fake_crm: FakeCRM
) -> None:
    record = fake_crm.record_ids("Deals")[0]
    async with opened(timeout=5.0) as transport:
        fake_server.latency = 1.0
        task = asyncio.create_task(transport.send(get_locks(fake_server, record), AUTH))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        fake_server.latency = 0.0
        assert (await transport.send(get_locks(fake_server, record), AUTH)).status == 204


async def test_no_timeout_waits_for_the_answer(fake_server: FakeServer, fake_crm: FakeCRM) -> None:
    record = fake_crm.record_ids("Deals")[0]
    async with opened(timeout=None) as transport:
        fake_server.latency = 0.3
        assert (await transport.send(get_locks(fake_server, record), AUTH)).status == 204


async def test_the_timer_cuts_only_whats_due_and_is_set_for_the_next() -> None:
    """In isolation: due requests are cancelled in the order they began, the rest wait."""
    timeouts = RequestTimeouts(0.2)
    slow = asyncio.create_task(held(timeouts, 10.0))
    await asyncio.sleep(0)  # the slow request begins first
    quick = asyncio.create_task(held(timeouts, 0.01))
    both = await asyncio.wait_for(asyncio.gather(slow, quick), timeout=2.0)
    assert list(both) == ["timed out", "answered"]
    assert await asyncio.wait_for(held(timeouts, 10.0), timeout=2.0) == "timed out"
    timeouts.close()


@pytest.mark.parametrize("caller_cancels", [False, True])
async def test_a_task_cut_and_cancelled_keeps_the_callers_cancellation(
    caller_cancels: bool,
) -> None:
    """Cut by the timer and cancelled by its caller too: the caller's cancellation stands."""
    timeouts = RequestTimeouts(60.0)
    dues: list[Any] = []
    task = asyncio.create_task(held(timeouts, 10.0, dues))
    await asyncio.sleep(0)
    dues[0].at = 0.0  # past due: the timer, run now, cuts it
    timeouts._expire()
    if caller_cancels:
        task.cancel()
    assert await task == ("cancelled" if caller_cancels else "timed out")
    timeouts.close()


class _Answer:
    def __init__(self) -> None:
        self.status, self.headers = 204, {"Content-Length": "0"}

    async def read(self) -> bytes:
        return b""

    def release(self) -> None:
        pass


class _Session:
    """An aiohttp session's stand-in: runs *during* in the request, then answers or raises."""

    def __init__(self, during: Any = None, raises: BaseException | None = None) -> None:
        self.during, self.raises = during, raises

    async def request(self, *args: object, **kwargs: object) -> _Answer:
        if self.during is not None:
            self.during()
        if self.raises is not None:
            raise self.raises
        return _Answer()


def _request() -> protocol.Request:
    return protocol.build_get_locks("https://www.zohoapis.com/crm/v8", "Deals", "1")


async def test_cut_just_as_the_answer_came_in_keeps_the_answer() -> None:
    """The timer runs after the answer arrived, before the request went on: the answer stands."""
    session = _Session()
    transport = AiohttpTransport(session, timeout=30.0)  # type: ignore[arg-type]
    timeouts = transport._timeouts
    assert timeouts is not None

    def expire_now() -> None:
        for due in timeouts._due:
            due.at = 0.0
        timeouts._expire()  # cancels this very task, which has not suspended since

    session.during = expire_now
    response = await transport.send(_request(), AUTH)
    assert response.status == 204
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # no cancellation left pending for the caller


@pytest.mark.parametrize(("connect_timeout", "said"), [(10.0, "within 10s"), (None, "in time")])
async def test_a_connect_timeout_is_a_request_timeout_before_anything_was_sent(
    connect_timeout: float | None, said: str
) -> None:
    session = _Session(raises=aiohttp.ConnectionTimeoutError("connect timed out"))
    transport = AiohttpTransport(
        session,  # type: ignore[arg-type]
        connect_timeout=connect_timeout,
    )
    with pytest.raises(RequestTimeout, match=f"could not connect {said}") as caught:
        await transport.send(_request(), AUTH)
    assert caught.value.maybe_sent is False
    assert transport._timeouts is not None and not transport._timeouts._due


async def test_a_request_outside_a_task_is_refused() -> None:
    timeouts = RequestTimeouts(1.0)
    loop = asyncio.get_running_loop()
    caught: list[BaseException] = []

    def outside() -> None:
        try:
            timeouts.begin()
        except RuntimeError as exc:
            caught.append(exc)

    loop.call_soon(outside)
    await asyncio.sleep(0)  # the callback runs before this task resumes
    assert caught and "from a task" in str(caught[0])


def test_a_new_event_loop_starts_afresh() -> None:
    """The timer of a loop that has ended is forgotten; the next loop gets its own."""
    timeouts = RequestTimeouts(0.01)
    assert asyncio.run(held(timeouts, 5.0)) == "timed out"
    assert asyncio.run(held(timeouts, 5.0)) == "timed out"
