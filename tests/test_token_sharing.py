"""One token for every process that shares a token store, within Zoho's token limits.

Several `RefreshTokenAuth` objects in one test stand for several processes:
each has its own `FileTokenStore` object (its own file descriptors, so the OS
file lock keeps them apart exactly as it keeps processes apart). Also: async
and plain stores, a slow store, the ledger of token requests, the sealer.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import WallClock

from zoho_locking import FileTokenStore, MemoryTokenStore, OAuthError, RefreshTokenAuth
from zoho_locking.auth.limits import MintLedger, TokenLimits
from zoho_locking.auth.seal import Sealer
from zoho_locking.auth.stores import CachedToken, SharedTokenStore, TokenStore
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer


def make_auth(server: FakeServer, accounts: FakeAccounts, **options: Any) -> RefreshTokenAuth:
    return RefreshTokenAuth(
        client_id=accounts.client_id,
        client_secret=accounts.client_secret,
        refresh_token=accounts.refresh_token,
        accounts_url=server.url,
        **options,
    )


async def close(*auths: RefreshTokenAuth) -> None:
    for auth in auths:
        await auth.aclose()


# -- stores: async, plain, slow --------------------------------------------------------


def test_built_in_stores_are_token_stores_and_the_file_is_shared(tmp_path: Path) -> None:
    assert isinstance(MemoryTokenStore(), TokenStore)
    assert not isinstance(MemoryTokenStore(), SharedTokenStore)
    assert isinstance(FileTokenStore(tmp_path / "t.json"), SharedTokenStore)


class PlainStore:
    """A store written before stores were async: plain load and save."""

    def __init__(self) -> None:
        self.tokens: dict[str, CachedToken] = {}

    def load(self, key: str) -> CachedToken | None:
        return self.tokens.get(key)

    def save(self, key: str, token: CachedToken) -> None:
        self.tokens[key] = token


async def test_a_store_with_plain_methods_still_works(
    server: FakeServer, accounts: FakeAccounts
) -> None:
    store = PlainStore()
    async with make_auth(server, accounts, store=store) as first:
        token = await first.get_token()
    assert [cached.access_token for cached in store.tokens.values()] == [token]
    async with make_auth(server, accounts, store=store) as second:
        assert await second.get_token() == token
    assert accounts.mints == 1


class SlowStore:
    """An async store whose loads wait until the test opens the gate."""

    def __init__(self) -> None:
        self.inner = MemoryTokenStore()
        self.gate = asyncio.Event()
        self.loads = 0

    async def load(self, key: str) -> CachedToken | None:
        self.loads += 1
        await self.gate.wait()
        return await self.inner.load(key)

    async def save(self, key: str, token: CachedToken) -> None:
        await self.inner.save(key, token)


async def test_a_slow_store_holds_up_only_the_callers_that_need_it(
    server: FakeServer, accounts: FakeAccounts
) -> None:
    store = SlowStore()
    async with make_auth(server, accounts, store=store) as auth:
        callers = [asyncio.create_task(auth.get_token()) for _ in range(20)]
        ticks = 0
        while store.loads == 0 or ticks < 50:  # the rest of the program runs meanwhile
            await asyncio.sleep(0)
            ticks += 1
        assert not any(task.done() for task in callers)
        assert store.loads == 1, "one load for every caller waiting"
        store.gate.set()
        tokens = await asyncio.gather(*callers)
    assert len(set(tokens)) == 1 and accounts.mints == 1


async def test_the_file_store_reads_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileTokenStore(tmp_path / "t.json")
    await store.save("k", CachedToken("tok", time.time() + 60, None, 60.0))
    reading, release = threading.Event(), threading.Event()
    read = FileTokenStore._read

    def slow_read(self: FileTokenStore) -> dict[str, Any]:
        reading.set()
        assert release.wait(timeout=10), "never released"
        return read(self)

    monkeypatch.setattr(FileTokenStore, "_read", slow_read)
    loading = asyncio.create_task(store.load("k"))
    ticks = 0
    while not reading.is_set() or ticks < 20:  # the loop turns while the disk is slow
        await asyncio.sleep(0.001)
        ticks += 1
    assert not loading.done()
    release.set()
    token = await loading
    assert token is not None and token.access_token == "tok"


# -- one token for the processes sharing a file ---------------------------------------


async def test_processes_sharing_a_file_mint_one_token(
    server: FakeServer, accounts: FakeAccounts, tmp_path: Path
) -> None:
    accounts.latency = 0.05  # every process asks while the first mint is under way
    path = tmp_path / "token.json"
    auths = [make_auth(server, accounts, store=FileTokenStore(path)) for _ in range(6)]
    try:
        tokens = await asyncio.gather(*(auth.get_token() for auth in auths for _ in range(5)))
    finally:
        await close(*auths)
    assert len(set(tokens)) == 1
    assert len(accounts.requests) == 1 and accounts.mints == 1


async def test_a_401_in_every_process_costs_one_mint(
    fake_crm: FakeCRM, server: FakeServer, accounts: FakeAccounts, tmp_path: Path
) -> None:
    path = tmp_path / "token.json"
    auths = [make_auth(server, accounts, store=FileTokenStore(path)) for _ in range(6)]
    try:
        old = await auths[0].get_token()
        assert [await auth.get_token() for auth in auths[1:]] == [old] * 5
        fake_crm.revoke_token(old)
        accounts.latency = 0.05
        new = await asyncio.gather(*(auth.refresh(old) for auth in auths for _ in range(3)))
    finally:
        await close(*auths)
    assert len(set(new)) == 1 and new[0] != old
    assert accounts.mints == 2


async def test_the_processes_refresh_ahead_of_expiry_once(
    server: FakeServer, accounts: FakeAccounts, tmp_path: Path
) -> None:
    clock = WallClock()
    path = tmp_path / "token.json"
    auths = [
        make_auth(server, accounts, store=FileTokenStore(path, clock=clock), clock=clock)
        for _ in range(4)
    ]
    try:
        first = {await auth.get_token() for auth in auths}
        clock.advance(3600 - 30)  # inside the refresh margin of every process
        second = set(await asyncio.gather(*(auth.get_token() for auth in auths)))
    finally:
        await close(*auths)
    assert len(first) == len(second) == 1 and first != second
    assert accounts.mints == 2


async def test_an_access_denied_cooldown_holds_for_every_process(
    server: FakeServer, accounts: FakeAccounts, tmp_path: Path
) -> None:
    accounts.max_mints = 1
    path = tmp_path / "token.json"
    one, two = (make_auth(server, accounts, store=FileTokenStore(path)) for _ in range(2))
    try:
        old = await one.get_token()
        with pytest.raises(OAuthError, match="THROTTLED"):
            await one.refresh(old)
        assert accounts.throttled == 1 and len(accounts.requests) == 2
        assert await two.get_token() == old  # still valid: taken from the file
        with pytest.raises(OAuthError) as caught:
            await two.refresh(old)
    finally:
        await close(one, two)
    assert caught.value.code == "THROTTLED"
    assert "no process sharing this token store asks again" in caught.value.message
    assert len(accounts.requests) == 2, "the other process did not ask during the cooldown"


# -- Zoho's two token limits --------------------------------------------------------------


async def test_never_more_than_ten_live_tokens(
    fake_crm: FakeCRM, server: FakeServer, accounts: FakeAccounts
) -> None:
    accounts.max_mints = 100  # the accounts server would take more requests
    clock = WallClock()
    async with make_auth(
        server, accounts, clock=clock, token_limits=TokenLimits(requests=100)
    ) as auth:
        tokens = [await auth.get_token()]
        for _ in range(9):
            refreshed = await auth.refresh(tokens[-1])
            assert refreshed is not None
            tokens.append(refreshed)
        with pytest.raises(OAuthError) as caught:
            await auth.refresh(tokens[-1])
        assert caught.value.code == "TOO_MANY_TOKENS"
        assert "10 access tokens minted from this refresh token" in caught.value.message
        assert accounts.mints == 10 and len(accounts.requests) == 10, "the 11th was not asked"
        # Every one of the ten is still accepted: Zoho ended none of them.
        assert all(fake_crm.org.tokens.valid(token) for token in tokens)
        clock.advance(3600)  # the first ones have expired: room again
        assert await auth.refresh(tokens[-1]) not in tokens
    assert accounts.mints == 11


async def test_never_more_than_ten_token_requests_in_ten_minutes(
    server: FakeServer, accounts: FakeAccounts
) -> None:
    accounts.max_mints = 100
    clock = WallClock()
    async with make_auth(
        server, accounts, clock=clock, token_limits=TokenLimits(live_tokens=100)
    ) as auth:
        token = await auth.get_token()
        for _ in range(9):
            token = await auth.refresh(token) or ""
        with pytest.raises(OAuthError) as caught:
            await auth.refresh(token)
        assert caught.value.code == "TOO_MANY_TOKEN_REQUESTS"
        assert len(accounts.requests) == 10
        clock.advance(600)
        assert await auth.refresh(token) != token
    assert len(accounts.requests) == 11 and accounts.throttled == 0


def test_the_ledger_counts_requests_and_live_tokens() -> None:
    limits = TokenLimits(live_tokens=2, requests=3, window=600.0)
    ledger = MintLedger().asked(0.0).minted(0.0, 3600.0).asked(10.0)  # the 2nd got no token
    assert ledger.live(100.0) == 1 and ledger.refusal(100.0, limits) is None
    ledger = ledger.asked(20.0).minted(20.0, 3620.0)
    refusal = ledger.refusal(100.0, limits)
    assert refusal is not None and refusal.code == "TOO_MANY_TOKENS"
    assert "in 3500s" in refusal.message
    assert ledger.refusal(3601.0, limits) is None
    # Outside the window, a request without a token is forgotten; a live token is not.
    pruned = ledger.pruned(700.0, limits)
    assert pruned.requests == ((0.0, 3600.0), (20.0, 3620.0))
    three = MintLedger().asked(0.0).asked(1.0).asked(2.0)
    refusal = three.refusal(3.0, limits)
    assert refusal is not None and refusal.code == "TOO_MANY_TOKEN_REQUESTS"
    assert three.refusal(600.5, limits) is None
    cooled = MintLedger().throttled(50.0)
    refusal = cooled.refusal(20.0, limits)
    assert refusal is not None and refusal.code == "THROTTLED" and "30s" in refusal.message
    assert MintLedger.from_json(ledger.to_json()) == ledger
    assert cooled.horizon(20.0, limits) == 30.0


@pytest.mark.parametrize(
    "data", [None, [], {"requests": "x"}, {"requests": [[1, "y"], ["z", None], [1]]},
             {"throttled_until": "soon"}, {"throttled_until": float("inf")}],
)  # fmt: skip
def test_an_unreadable_ledger_reads_as_empty(data: object) -> None:
    assert MintLedger.from_json(data) == MintLedger()


def test_token_limits_are_validated() -> None:
    for bad in ({"live_tokens": 0}, {"requests": 1.5}, {"window": 0}, {"window": float("nan")}):
        with pytest.raises(ValueError):
            TokenLimits(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token_limits"):
        RefreshTokenAuth(client_id="i", client_secret="s", refresh_token="r", dc="us",
                         token_limits=10)  # type: ignore[arg-type]  # fmt: skip


# -- the sealer ------------------------------------------------------------------------------


def test_sealed_values_open_only_with_the_same_credentials_and_name() -> None:
    sealer = Sealer.derive("client-secret", "refresh-token")
    sealed = sealer.seal(b"the access token", "ns:token")
    assert b"access token" not in sealed
    assert sealer.seal(b"the access token", "ns:token") != sealed, "a fresh nonce each time"
    assert Sealer.derive("client-secret", "refresh-token").open(sealed, "ns:token") == (
        b"the access token"
    )
    assert sealer.open(sealed, "ns2:token") is None, "moved to another name"
    assert Sealer.derive("other-secret", "refresh-token").open(sealed, "ns:token") is None
    assert Sealer.derive("client-secret", "other-token").open(sealed, "ns:token") is None
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert sealer.open(tampered, "ns:token") is None
    assert sealer.open(b"", "ns:token") is None and sealer.open(b"\x02" * 40, "ns:token") is None


def test_a_sealer_shows_and_gives_away_nothing() -> None:
    sealer = Sealer.derive("client-secret", "refresh-token")
    assert "secret" not in repr(sealer) and "***" in repr(sealer)
    with pytest.raises(TypeError):
        pickle.dumps(sealer)
    with pytest.raises(ValueError):
        Sealer(b"short")


def test_a_token_file_under_home_is_found_there() -> None:
    store = FileTokenStore("~/.cache/zoho-token.json")
    assert store.path == Path.home() / ".cache" / "zoho-token.json"
    assert store.lock_path == Path.home() / ".cache" / "zoho-token.json.lock"
