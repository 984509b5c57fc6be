"""Leaks: once a client closes, nothing of it is left running or open.

Every test ends with `assert_nothing_left`: no task but the test's own, no
ResourceWarning when everything unreachable is collected, and nothing
reported to the event loop's exception handler (where aiohttp reports an
unclosed session). The suite already turns warnings into errors; these
checks make the collection happen now, inside the test that caused it.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from zoho_locking import (
    BulkReport,
    LockingClient,
    RefreshTokenAuth,
    RetryPolicy,
    ZohoLockingError,
)
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer, Faults

TOKEN = FakeCRM.DEFAULT_TOKEN
FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.001, max_delay=0.01)


class LoopErrors:
    """What the running loop's exception handler was told (aiohttp's "Unclosed ..." notes)."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.contexts.append(context)


@pytest.fixture
async def loop_errors() -> AsyncIterator[LoopErrors]:
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    errors = LoopErrors()
    loop.set_exception_handler(errors)
    try:
        yield errors
    finally:
        loop.set_exception_handler(previous)


def collect() -> list[str]:
    """Collect garbage now; return the text of every ResourceWarning it caused."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


async def assert_nothing_left(errors: LoopErrors) -> None:
    for _ in range(3):
        await asyncio.sleep(0)  # let callbacks scheduled by the closes run
    others = asyncio.all_tasks() - {asyncio.current_task()}
    assert not others, f"tasks left running: {others}"
    assert collect() == []
    messages = [context.get("message") for context in errors.contexts]
    assert messages == [], messages


@pytest.fixture
def crm() -> FakeCRM:
    crm = FakeCRM()
    crm.add_records("Deals", 300)
    return crm


def session_of(client: LockingClient) -> aiohttp.ClientSession:
    session = client.transport.session  # type: ignore[attr-defined]
    assert isinstance(session, aiohttp.ClientSession)
    return session


def assert_closed(client: LockingClient, session: aiohttp.ClientSession) -> None:
    assert client.transport.session is None  # type: ignore[attr-defined]
    assert session.closed
    assert session.connector is None or session.connector.closed


async def test_single_calls(crm: FakeCRM, loop_errors: LoopErrors) -> None:
    record = crm.record_ids("Deals")[0]
    async with FakeServer(crm) as server:
        async with LockingClient(access_token=TOKEN, api_domain=server.url) as client:
            lock = await client.lock("Deals", record, reason="r")
            await client.get_locks("Deals", record)
            await client.get_lock("Deals", record, lock.id)
            await client.update_lock("Deals", record, lock.id, reason="r2")
            await client.unlock("Deals", record, lock.id)
            session = session_of(client)
        assert_closed(client, session)
    del client, session
    await assert_nothing_left(loop_errors)


async def test_bulk_runs(crm: FakeCRM, loop_errors: LoopErrors) -> None:
    ids = crm.record_ids("Deals")
    async with FakeServer(crm, latency=0.001, concurrency_limit=8) as server:
        async with LockingClient(
            access_token=TOKEN, api_domain=server.url, max_concurrency=12, retry=FAST_RETRY
        ) as client:
            locked = await client.lock_many("Deals", ids, reason="r")
            unlocked = await client.unlock_many("Deals", ids)
            session = session_of(client)
        assert_closed(client, session)
    assert locked.succeeded == unlocked.succeeded == len(ids)
    del client, session
    await assert_nothing_left(loop_errors)


async def test_cancelled_bulk_run(crm: FakeCRM, loop_errors: LoopErrors) -> None:
    ids = crm.record_ids("Deals")
    report = BulkReport("lock", "Deals")
    started = asyncio.Event()

    def progress(done: int, total: int | None, live: BulkReport) -> None:
        if done >= 20:
            started.set()

    async with FakeServer(crm, latency=0.01) as server:
        async with LockingClient(access_token=TOKEN, api_domain=server.url) as client:
            run = asyncio.create_task(
                client.lock_many("Deals", ids, reason="r", report=report, progress=progress)
            )
            await asyncio.wait_for(started.wait(), 10)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
            session = session_of(client)
        assert_closed(client, session)
    assert report.cancelled and 20 <= report.total < len(ids)
    del client, session, run
    await assert_nothing_left(loop_errors)


async def test_client_closed_while_a_bulk_run_is_in_flight(
    crm: FakeCRM, loop_errors: LoopErrors
) -> None:
    ids = crm.record_ids("Deals")
    async with FakeServer(crm, latency=0.01) as server:
        with pytest.raises(RuntimeError, match="stop here"):
            async with LockingClient(
                access_token=TOKEN, api_domain=server.url, retry=FAST_RETRY
            ) as client:
                run = asyncio.create_task(client.lock_many("Deals", ids, reason="r"))
                await asyncio.sleep(0.05)
                session = session_of(client)
                raise RuntimeError("stop here")
        # The run meets a closed client: its records fail, it does not hang or leak.
        report = await asyncio.wait_for(run, 10)
        assert report.total == len(ids)
        assert_closed(client, session)
    del client, session, run
    await assert_nothing_left(loop_errors)


async def test_dropped_connections(crm: FakeCRM, loop_errors: LoopErrors) -> None:
    ids = crm.record_ids("Deals")[:120]
    crm.faults = Faults(drop_rate=0.2, applied_drop_rate=0.1, html_502_rate=0.05, seed=7)
    async with FakeServer(crm) as server:
        async with LockingClient(
            access_token=TOKEN, api_domain=server.url, retry=FAST_RETRY
        ) as client:
            report = await client.lock_many("Deals", ids, reason="r")
            session = session_of(client)
        assert_closed(client, session)
    assert report.total == len(ids)
    assert any(request.dropped for request in crm.requests)
    del client, session
    await assert_nothing_left(loop_errors)


async def test_server_closing_under_a_client(crm: FakeCRM, loop_errors: LoopErrors) -> None:
    ids = crm.record_ids("Deals")
    server = FakeServer(crm, latency=0.05)
    await server.start()
    async with LockingClient(access_token=TOKEN, api_domain=server.url, retry=FAST_RETRY) as client:
        run = asyncio.create_task(client.get_many("Deals", ids[:40]))
        await asyncio.sleep(0.02)  # requests are in flight, sleeping out the latency
        await server.close()
        report = await asyncio.wait_for(run, 10)
        session = session_of(client)
    assert report.total == 40 and report.failed > 0
    assert_closed(client, session)
    del client, session, run, server
    await assert_nothing_left(loop_errors)


@pytest.fixture
def accounts() -> FakeAccounts:
    return FakeAccounts(token_life=0.2, max_mints=100, max_live_tokens=100)


def refresh_auth(server: FakeServer, accounts: FakeAccounts) -> RefreshTokenAuth:
    return RefreshTokenAuth(
        client_id=accounts.client_id,
        client_secret=accounts.client_secret,
        refresh_token=accounts.refresh_token,
        accounts_url=server.url,
    )


async def test_refresh_token_auth_session_closes_with_the_client(
    accounts: FakeAccounts, loop_errors: LoopErrors
) -> None:
    crm = FakeCRM(default_token=False)
    ids = crm.add_records("Deals", 200)
    async with FakeServer(crm, latency=0.004, accounts=accounts) as server:
        auth = refresh_auth(server, accounts)
        async with LockingClient(auth=auth, max_concurrency=4) as client:
            report = await client.lock_many("Deals", ids, reason="r")
            auth_session = auth.session
            assert isinstance(auth_session, aiohttp.ClientSession)
            session = session_of(client)
        assert auth.session is None and auth_session.closed
        assert_closed(client, session)
    assert report.succeeded == len(ids) and accounts.mints >= 2  # refreshed mid-run
    del client, session, auth, auth_session
    await assert_nothing_left(loop_errors)


async def test_a_closed_client_opens_nothing(
    accounts: FakeAccounts, loop_errors: LoopErrors
) -> None:
    crm = FakeCRM(default_token=False)
    (record,) = crm.add_records("Deals", 1)
    async with FakeServer(crm, accounts=accounts) as server:
        auth = refresh_auth(server, accounts)
        # The API domain comes from the first token answer; no call was made.
        async with LockingClient(auth=auth) as client:
            pass
        with pytest.raises(ZohoLockingError, match="closed"):
            await client.get_locks("Deals", record)
        with pytest.raises(ZohoLockingError, match="closed"):
            await client.lock("Deals", record, reason="r")
        assert auth.session is None, "a closed client made its provider open a session"
        assert accounts.requests == [], "a closed client asked for a token"
    assert crm.requests == []
    del client, auth
    await assert_nothing_left(loop_errors)


async def test_a_session_of_your_own_stays_open_until_you_close_it(
    crm: FakeCRM, loop_errors: LoopErrors
) -> None:
    record = crm.record_ids("Deals")[0]
    async with FakeServer(crm) as server:
        async with aiohttp.ClientSession() as session:
            async with LockingClient(
                access_token=TOKEN, api_domain=server.url, session=session
            ) as client:
                await client.get_locks("Deals", record)
            assert not session.closed
            async with session.get(f"{server.url}/anything") as answer:
                assert answer.status  # still usable
        assert session.closed
    del client, session
    await assert_nothing_left(loop_errors)


async def test_unused_clients_are_silent_when_collected(
    crm: FakeCRM, accounts: FakeAccounts, loop_errors: LoopErrors
) -> None:
    async with FakeServer(crm, accounts=accounts) as server:
        clients = [
            LockingClient(access_token=TOKEN, api_domain=server.url),
            LockingClient(access_token=TOKEN, dc="eu"),
            LockingClient(auth=refresh_auth(server, accounts)),
        ]
        auth = refresh_auth(server, accounts)
    del clients, auth
    await assert_nothing_left(loop_errors)


def test_clients_made_outside_a_loop_are_silent_when_collected() -> None:
    clients: list[Any] = [
        LockingClient(access_token=TOKEN, dc="us"),
        LockingClient(
            auth=RefreshTokenAuth(client_id="i", client_secret="s", refresh_token="r", dc="eu")
        ),
    ]
    del clients
    assert collect() == []


async def test_fake_server_closes_cleanly(crm: FakeCRM, loop_errors: LoopErrors) -> None:
    record = crm.record_ids("Deals")[0]
    server = FakeServer(crm, latency=0.2)
    await server.start()
    url = f"{server.url}/crm/v8/Deals/{record}/Locking_Information__s"
    headers = {"Authorization": f"Zoho-oauthtoken {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        # Kept-alive connections and one request still sleeping out its latency.
        server.latency = 0.0
        for _ in range(3):
            async with session.get(url, headers=headers) as answer:
                assert answer.status in (200, 204)
        server.latency = 0.2
        pending = asyncio.create_task(session.get(url, headers=headers))
        await asyncio.sleep(0.05)
        await server.close()
        with pytest.raises(aiohttp.ClientError):
            answer = await pending
            answer.release()
    del server, session, pending
    await assert_nothing_left(loop_errors)


@pytest.fixture(autouse=True)
def _blame_each_test_for_its_own_leaks() -> Iterator[None]:
    # pytest keeps the last failure's traceback (sys.last_traceback, for post-mortem
    # debugging), and with it the failed test's objects: drop it, and collect what
    # an earlier test left behind quietly, so that its leak is not blamed on this test.
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            setattr(sys, name, None)
    collect()
    yield
