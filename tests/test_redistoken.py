"""RedisTokenStore: one sealed access token for every process and host, through a real Redis.

Several `RefreshTokenAuth` objects, each with its own `RedisTokenStore` and
Redis client, stand for processes on several hosts; a real subprocess holds
the mint lock and is killed; a dedicated redis-server is stopped under a
refresh. Nothing here is an imitation of Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from helpers import WallClock
from redis_server import RedisServer, binary_or_skip, everything_in, free_port

import zoho_locking
from zoho_locking import LockingClient, OAuthError, RefreshTokenAuth
from zoho_locking.auth.redisstore import RedisTokenStore
from zoho_locking.auth.seal import Sealer
from zoho_locking.auth.stores import SharedTokenStore
from zoho_locking.models import UNFINISHED
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer
from zoho_locking.wire.limits import is_run_wide

SECRETS = (FakeAccounts.CLIENT_SECRET, FakeAccounts.REFRESH_TOKEN)


@contextlib.asynccontextmanager
async def aioredis_client(url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(url)
    try:
        yield client
    finally:
        await client.aclose()


def make_auth(
    server: FakeServer, accounts: FakeAccounts, store: RedisTokenStore, **options: Any
) -> RefreshTokenAuth:
    return RefreshTokenAuth(
        client_id=accounts.client_id,
        client_secret=accounts.client_secret,
        refresh_token=accounts.refresh_token,
        accounts_url=server.url,
        store=store,
        **options,
    )


class Fleet:
    """*n* processes: each its own store and Redis client, one Redis."""

    def __init__(
        self, url: str, server: FakeServer, accounts: FakeAccounts, n: int, **options: Any
    ) -> None:
        store_options = options.pop("store_options", {})
        self.stores = [RedisTokenStore.from_url(url, **store_options) for _ in range(n)]
        self.auths = [make_auth(server, accounts, store, **options) for store in self.stores]

    async def close(self) -> None:
        for auth, store in zip(self.auths, self.stores, strict=True):
            await auth.aclose()
            await store.aclose()


def test_the_store_is_public_and_shared() -> None:
    assert zoho_locking.RedisTokenStore is RedisTokenStore
    store = RedisTokenStore.from_url("redis://:pw-s3cret@127.0.0.1:1/0")
    assert isinstance(store, SharedTokenStore)
    assert "pw-s3cret" not in repr(store) and "127.0.0.1:1" in repr(store)


async def test_a_fleet_mints_one_token_and_redis_holds_it_sealed(
    redis_url: str, server: FakeServer, accounts: FakeAccounts
) -> None:
    accounts.latency = 0.05  # every process asks while the first mint is under way
    fleet = Fleet(redis_url, server, accounts, 8)
    try:
        tokens = await asyncio.gather(*(a.get_token() for a in fleet.auths for _ in range(5)))
    finally:
        await fleet.close()
    assert len(set(tokens)) == 1 and len(accounts.requests) == 1
    token = tokens[0]
    stored = await everything_in(redis_url)
    namespace = fleet.stores[0].namespace(fleet.auths[0].config.store_key)
    assert set(stored) == {f"{namespace}:token", f"{namespace}:ledger"}
    assert namespace.startswith("zoho-locking:{") and namespace.endswith("}")
    for name, value in stored.items():
        for secret in (*SECRETS, token, accounts.client_id, fleet.auths[0].config.store_key):
            assert secret not in name and secret.encode() not in value, name
    # What Redis holds is the token, sealed: it opens with the credentials, and only so.
    name = f"{namespace}:token"
    sealer = Sealer.derive(accounts.client_secret, accounts.refresh_token)
    assert token.encode() in (sealer.open(stored[name], name) or b"")
    assert Sealer.derive("not-the-secret", accounts.refresh_token).open(stored[name], name) is None


async def test_the_token_expires_from_redis_with_itself(
    redis_url: str, server: FakeServer, accounts: FakeAccounts
) -> None:
    accounts.token_life = 120.0
    fleet = Fleet(redis_url, server, accounts, 1)
    try:
        await fleet.auths[0].get_token()
        name = f"{fleet.stores[0].namespace(fleet.auths[0].config.store_key)}:token"
        ttl = await fleet.stores[0].redis.pttl(name)
    finally:
        await fleet.close()
    assert 110_000 < ttl <= 120_000


async def test_a_401_in_every_process_costs_one_mint_fleet_wide(
    redis_url: str, fake_crm: FakeCRM, server: FakeServer, accounts: FakeAccounts
) -> None:
    fleet = Fleet(redis_url, server, accounts, 6)
    try:
        old = await fleet.auths[0].get_token()
        assert {await auth.get_token() for auth in fleet.auths} == {old}
        fake_crm.revoke_token(old)
        accounts.latency = 0.05
        new = await asyncio.gather(*(a.refresh(old) for a in fleet.auths for _ in range(3)))
    finally:
        await fleet.close()
    assert len(set(new)) == 1 and new[0] != old
    assert accounts.mints == 2


async def test_the_fleet_refreshes_ahead_of_expiry_once(
    redis_url: str, server: FakeServer, accounts: FakeAccounts
) -> None:
    clock = WallClock()
    fleet = Fleet(redis_url, server, accounts, 5, clock=clock, store_options={"clock": clock})
    try:
        first = {await auth.get_token() for auth in fleet.auths}
        clock.advance(3600 - 30)
        second = set(await asyncio.gather(*(auth.get_token() for auth in fleet.auths)))
    finally:
        await fleet.close()
    assert len(first) == len(second) == 1 and first != second
    assert accounts.mints == 2


async def test_access_denied_cools_down_the_whole_fleet(
    redis_url: str, server: FakeServer, accounts: FakeAccounts
) -> None:
    accounts.max_mints = 1
    fleet = Fleet(redis_url, server, accounts, 3)
    try:
        old = await fleet.auths[0].get_token()
        with pytest.raises(OAuthError, match="THROTTLED"):
            await fleet.auths[0].refresh(old)
        for auth in fleet.auths[1:]:
            with pytest.raises(OAuthError) as caught:
                await auth.refresh(old)
            assert caught.value.code == "THROTTLED"
        ledger = f"{fleet.stores[0].namespace(fleet.auths[0].config.store_key)}:ledger"
        assert await fleet.stores[0].redis.pttl(ledger) > 0, "the ledger expires by itself"
    finally:
        await fleet.close()
    assert len(accounts.requests) == 2 and accounts.throttled == 1


async def test_a_store_bound_to_other_credentials_reads_nothing(
    redis_url: str, server: FakeServer, accounts: FakeAccounts, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = Fleet(redis_url, server, accounts, 1)
    try:
        await fleet.auths[0].get_token()
        key = fleet.auths[0].config.store_key
        intruder = RedisTokenStore.from_url(redis_url)
        intruder.bind_sealer(key, Sealer.derive("guessed-secret", accounts.refresh_token))
        assert await intruder.load(key) is None
        await intruder.aclose()
        unbound = RedisTokenStore.from_url(redis_url)
        with pytest.raises(ValueError, match="RefreshTokenAuth"):
            await unbound.load(key)
        await unbound.aclose()
    finally:
        await fleet.close()
    assert "does not open with these credentials" in caplog.text


LOCK_HOLDER = """
import asyncio, sys
from zoho_locking.auth.redisstore import RedisTokenStore

async def main():
    store = RedisTokenStore.from_url(sys.argv[1], lock_ttl=1.0)
    async with store.mint_lock(sys.argv[2]):
        print("holding", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_minter_that_dies_frees_the_lock_within_its_ttl(redis_url: str) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCK_HOLDER, redis_url, "some-key", stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), timeout=20) == b"holding\n"
    store = RedisTokenStore.from_url(redis_url, lock_ttl=1.0, poll_interval=0.02)
    entered, leave = asyncio.Event(), asyncio.Event()
    waiting = asyncio.create_task(hold(store, "some-key", entered, leave))
    try:
        await asyncio.sleep(1.5)
        assert not entered.is_set(), "a live minter's lock expired: it is renewed while held"
        os.kill(holder.pid, signal.SIGKILL)
        await holder.wait()
        killed = time.monotonic()
        await asyncio.wait_for(entered.wait(), timeout=3)
        assert time.monotonic() - killed <= 1.0 + 0.3  # the lock's ttl, and a poll
    finally:
        leave.set()
        await asyncio.wait_for(waiting, timeout=5)
        await store.aclose()


async def hold(
    store: RedisTokenStore, key: str, entered: asyncio.Event, leave: asyncio.Event
) -> None:
    """Hold *key*'s mint lock from when *entered* is set until *leave* is."""
    async with store.mint_lock(key):
        entered.set()
        await leave.wait()


async def test_the_lock_is_released_only_by_its_owner(redis_url: str) -> None:
    one, two = RedisTokenStore.from_url(redis_url), RedisTokenStore.from_url(redis_url)
    name = f"{one.namespace('k')}:lock"
    entered, leave = asyncio.Event(), asyncio.Event()
    second: asyncio.Task[None] | None = None
    try:
        async with one.mint_lock("k"):
            owner = await one.redis.get(name)
            # Another process's release (an owner whose lock expired) leaves it alone.
            assert await two._unlock(keys=[name], args=["someone-else"]) == 0
            assert await one.redis.get(name) == owner
            second = asyncio.create_task(hold(two, "k", entered, leave))
            await asyncio.sleep(0.2)
            assert not entered.is_set(), "two holders at once"
        await asyncio.wait_for(entered.wait(), timeout=2)
        assert await one.redis.get(name) not in (None, owner)
    finally:
        leave.set()
        if second is not None:
            await asyncio.wait_for(second, timeout=5)
        await one.aclose()
        await two.aclose()
    async with aioredis_client(redis_url) as client:
        assert await client.get(name) is None, "released by its owner on leaving"


# -- Redis unreachable during a refresh ----------------------------------------------------


async def test_redis_stopped_under_a_refresh(
    tmp_path: Path, server: FakeServer, accounts: FakeAccounts, caplog: pytest.LogCaptureFixture
) -> None:
    redis = RedisServer(binary_or_skip(), tmp_path)
    clock = WallClock()
    store = RedisTokenStore.from_url(redis.url, outage_timeout=0.5, clock=clock)
    auth = make_auth(server, accounts, store, clock=clock)
    try:
        token = await auth.get_token()
        redis.stop()
        caplog.set_level(logging.WARNING)
        # Due for refresh but still valid: kept, with one warning however often it is due.
        clock.advance(3600 - 59)  # the refresh margin is 60 s
        for _ in range(4):
            assert await auth.get_token() == token
            clock.advance(11)  # past the wait between two tries ahead of expiry
        assert caplog.text.count("could not refresh the access token ahead of expiry") == 1
        clock.advance(30)  # expired now: no token to fall back on
        started = time.monotonic()
        with pytest.raises(OAuthError) as caught:
            await auth.get_token()
        waited = time.monotonic() - started
    finally:
        await auth.aclose()
        await store.aclose()
        redis.stop()
    error = caught.value
    assert error.code == "TOKEN_STORE_UNAVAILABLE" and is_run_wide(error)
    assert f"127.0.0.1:{redis.port}" in error.message and "no token was minted" in error.message
    assert 0.4 <= waited < 5, "ridden out for the outage timeout, then given up: never a hang"
    assert len(accounts.requests) == 1, "never minted without the lock"
    for text in (str(error), repr(error), caplog.text):
        for secret in (*SECRETS, token):
            assert secret not in text


async def test_an_unreachable_redis_names_the_host_not_the_password(
    server: FakeServer, accounts: FakeAccounts
) -> None:
    url = f"redis://:s3cret-password@127.0.0.1:{free_port()}/0"
    store = RedisTokenStore.from_url(url, outage_timeout=0.3)
    async with make_auth(server, accounts, store) as auth:
        with pytest.raises(OAuthError) as caught:
            await auth.get_token()
    await store.aclose()
    assert caught.value.code == "TOKEN_STORE_UNAVAILABLE"
    assert "127.0.0.1" in str(caught.value) and "s3cret" not in str(caught.value)
    assert "s3cret" not in repr(auth) and accounts.requests == []


async def test_a_run_stops_cleanly_when_redis_goes_away_under_its_refresh(
    tmp_path: Path,
) -> None:
    redis = RedisServer(binary_or_skip(), tmp_path)
    crm = FakeCRM(default_token=False)
    ids = crm.add_records("Deals", 3000)
    accounts = FakeAccounts(token_life=1.0)
    store = RedisTokenStore.from_url(redis.url, outage_timeout=0.3)
    stopped_redis: list[int] = []

    def progress(done: int, total: int | None, live: object) -> None:
        if done == 100 and not stopped_redis:
            redis.process.kill()
            stopped_redis.append(done)

    try:
        async with (
            FakeServer(crm, latency=0.005, accounts=accounts) as server,
            make_auth(server, accounts, store) as auth,
            LockingClient(auth=auth, api_domain=server.url) as client,
        ):
            report = await client.lock_many("Deals", ids, reason="r", progress=progress)
    finally:
        await store.aclose()
        redis.stop()
    assert report.stopped is not None and report.stopped.code == "TOKEN_STORE_UNAVAILABLE"
    assert report.succeeded >= 100 and report.unfinished >= 1
    unfinished = {o.record_id for o in report.outcomes if o.status == UNFINISHED}
    assert unfinished <= set(report.retryable_ids())
    assert not unfinished & set(crm.locks("Deals"))
    assert len(accounts.requests) == 1, "no token minted without the lock"


async def test_a_redis_cluster_shares_the_token_too(
    redis_cluster: RedisServer, server: FakeServer, accounts: FakeAccounts
) -> None:
    url = f"redis+cluster://127.0.0.1:{redis_cluster.port}/0"
    accounts.latency = 0.05
    fleet = Fleet(url, server, accounts, 3)
    try:
        tokens = await asyncio.gather(*(auth.get_token() for auth in fleet.auths))
    finally:
        await fleet.close()
    assert len(set(tokens)) == 1 and accounts.mints == 1
