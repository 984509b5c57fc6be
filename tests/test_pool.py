"""One connection pool for many clients: `make_session`, the resend guard, several orgs.

aiohttp resends a GET, PUT or DELETE once, unseen, when its connection drops
before the answer. The raw server `helpers.DropsSecond` drops the second request of every
connection, so a resend shows as a third request and a call that succeeds.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from helpers import DropsSecond

from zoho_locking import (
    FlowControl,
    LockingClient,
    RefreshTokenAuth,
    RetryPolicy,
    TransportError,
    ValidationError,
    make_session,
)
from zoho_locking.net.session import is_guarded
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer

NO_RETRY = RetryPolicy(max_attempts=1)
RECORD = "5843104000001000001"


async def twice(session: aiohttp.ClientSession, url: str) -> list[str]:
    results = []
    for _ in range(2):
        try:
            async with session.get(url) as answer:
                results.append(str(answer.status))
        except aiohttp.ClientError as exc:
            results.append(type(exc).__name__)
    return results


async def test_aiohttp_resends_unseen_and_make_session_does_not(drops_second: DropsSecond) -> None:
    async with aiohttp.ClientSession() as plain:
        assert await twice(plain, drops_second.url) == ["204", "204"]
    # The second call "succeeded": the server saw it twice. This is what the guard stops
    # (if aiohttp renames the switch, this test fails rather than the guard quietly lapsing).
    assert drops_second.requests == 3
    drops_second.requests = 0
    async with make_session() as guarded:
        assert is_guarded(guarded)
        assert await twice(guarded, drops_second.url) == ["204", "ServerDisconnectedError"]
    assert drops_second.requests == 2


async def test_a_session_passed_to_the_client_gets_the_guard(drops_second: DropsSecond) -> None:
    async with aiohttp.ClientSession() as session:
        assert not is_guarded(session)
        async with LockingClient(
            access_token=FakeCRM.DEFAULT_TOKEN, api_domain=drops_second.url, session=session,
            retry=NO_RETRY,
        ) as client:  # fmt: skip
            assert await client.get_locks("Deals", RECORD) == []
            with pytest.raises(TransportError):
                await client.get_locks("Deals", RECORD)
        assert is_guarded(session) and not session.closed  # still the caller's to close
    assert drops_second.requests == 2


async def test_make_session_settings() -> None:
    with pytest.raises(ValidationError):
        make_session(pool_size=0)
    async with make_session(pool_size=7) as session:
        assert isinstance(session.connector, aiohttp.TCPConnector)
        assert session.connector.limit == 7
        assert not session.trust_env  # proxies are routed per request, by the package


async def test_three_orgs_one_pool_each_with_its_own_token_and_flow() -> None:
    orgs = []
    for n in range(3):
        crm = FakeCRM(default_token=False)
        crm.add_records("Deals", 40)
        accounts = FakeAccounts(
            client_id=f"1000.ORG{n}", client_secret=f"secret-{n}", refresh_token=f"1000.r{n}"
        )
        # Each org allows 5 requests in flight: one shared budget would overrun them.
        orgs.append(FakeServer(crm, accounts=accounts, concurrency_limit=5, latency=0.005))
    async with make_session() as pool:
        for server in orgs:
            await server.start()
        clients = []
        try:
            for server in orgs:
                accounts = server.accounts
                assert accounts is not None
                auth = RefreshTokenAuth(
                    client_id=accounts.client_id, client_secret=accounts.client_secret,
                    refresh_token=accounts.refresh_token, accounts_url=server.url, session=pool,
                )  # fmt: skip
                flow = FlowControl(max_concurrency=5)
                clients.append(LockingClient(auth=auth, session=pool, flow=flow))
            reports = await asyncio.gather(
                *(
                    client.lock_many("Deals", server.crm.record_ids("Deals"), reason="close")
                    for client, server in zip(clients, orgs, strict=True)
                )
            )
            for client in clients:
                assert client.transport.session is pool  # type: ignore[attr-defined]
                assert client.auth.session is pool  # type: ignore[attr-defined]
        finally:
            for client in clients:
                await client.aclose()
            for server in orgs:
                await server.close()
        assert not pool.closed  # the clients and providers closed, the pool is the caller's
    for report, server in zip(reports, orgs, strict=True):
        assert report.succeeded == 40 and report.throttled == 0
        assert len(server.crm.locks("Deals")) == 40
        # Only its own token ever reached each org: another org's would have met a 401.
        assert {r.status for r in server.crm.requests} == {201}
        assert server.too_many_requests == 0 and server.peak_in_flight <= 5
        assert server.accounts is not None and server.accounts.mints == 1
