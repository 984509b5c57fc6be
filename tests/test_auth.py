"""OAuth: RefreshTokenAuth against the fake accounts server, token stores, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from helpers import WallClock

from zoho_locking import AuthError, LockingClient, OAuthError, ValidationError
from zoho_locking.auth.accounts import parse_token_answer
from zoho_locking.auth.provider import RefreshTokenAuth, StaticToken, TokenProvider
from zoho_locking.auth.stores import CachedToken, FileTokenStore, MemoryTokenStore, TokenStore
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer

SECRETS = (FakeAccounts.CLIENT_SECRET, FakeAccounts.REFRESH_TOKEN)
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


def make_auth(server: FakeServer, accounts: FakeAccounts, **options: Any) -> RefreshTokenAuth:
    options.setdefault("client_id", accounts.client_id)
    options.setdefault("client_secret", accounts.client_secret)
    options.setdefault("refresh_token", accounts.refresh_token)
    return RefreshTokenAuth(accounts_url=server.url, **options)


@pytest_asyncio.fixture
async def auth(server: FakeServer, accounts: FakeAccounts) -> AsyncIterator[RefreshTokenAuth]:
    async with make_auth(server, accounts) as provider:
        yield provider


def assert_no_secrets(*texts: str, extra: tuple[str, ...] = ()) -> None:
    for text in texts:
        for secret in SECRETS + extra:
            assert secret not in text


# -- construction ---------------------------------------------------------------


def test_provider_protocol() -> None:
    provider = RefreshTokenAuth(client_id="id", client_secret="s", refresh_token="r", dc="us")
    assert isinstance(provider, TokenProvider)
    assert isinstance(StaticToken("t"), TokenProvider)


@pytest.mark.parametrize(
    ("dc", "url"),
    [("us", "https://accounts.zoho.com"), ("eu", "https://accounts.zoho.eu"),
     ("CA", "https://accounts.zohocloud.ca")],
)  # fmt: skip
def test_dc_selects_accounts_server(dc: str, url: str) -> None:
    provider = RefreshTokenAuth(client_id="id", client_secret="s", refresh_token="r", dc=dc)
    assert provider.config.accounts_url == url
    assert provider.config.token_url == f"{url}/oauth/v2/token"
    assert provider.api_domain is None


@pytest.mark.parametrize(
    "where",
    [{}, {"dc": "us", "accounts_url": "https://accounts.zoho.com"}, {"dc": "mars"},
     {"accounts_url": "http://accounts.example.com"}, {"accounts_url": "ftp://x"},
     {"accounts_url": "https://user:pw@accounts.zoho.com"}],
)  # fmt: skip
def test_accounts_server_is_validated(where: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RefreshTokenAuth(client_id="id", client_secret="s", refresh_token="r", **where)


def test_insecure_accounts_url_needs_opt_in() -> None:
    provider = RefreshTokenAuth(
        client_id="id", client_secret="s", refresh_token="r",
        accounts_url="http://accounts.example.com/", allow_insecure_http=True,
    )  # fmt: skip
    assert provider.config.token_url == "http://accounts.example.com/oauth/v2/token"


@pytest.mark.parametrize("field", ["client_id", "client_secret", "refresh_token"])
@pytest.mark.parametrize("value", ["", "   ", "has space-secret", None])
def test_credentials_are_validated_without_echoing_them(field: str, value: Any) -> None:
    args: dict[str, Any] = {"client_id": "id", "client_secret": "s", "refresh_token": "r"}
    args[field] = value
    with pytest.raises(ValidationError) as caught:
        RefreshTokenAuth(dc="us", **args)
    assert caught.value.field == field
    assert "space-secret" not in str(caught.value)


@pytest.mark.parametrize(
    "option", [{"refresh_margin": -1}, {"timeout": 0}, {"throttle_cooldown": float("nan")},
               {"store": object()}],
)  # fmt: skip
def test_options_are_validated(option: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RefreshTokenAuth(client_id="id", client_secret="s", refresh_token="r", dc="us", **option)


# -- minting and caching --------------------------------------------------------------


async def test_mints_once_and_caches(
    auth: RefreshTokenAuth, accounts: FakeAccounts, server: FakeServer
) -> None:
    token = await auth.get_token()
    assert await auth.get_token() == token
    assert accounts.mints == 1 and auth.mint_requests == 1
    assert auth.api_domain == server.url
    async with LockingClient(auth=auth, api_domain=server.url) as client:
        assert await client.get_locks("Deals", server.crm.record_ids("Deals")[0]) == []


async def test_sends_form_encoded_refresh_grant(
    auth: RefreshTokenAuth, accounts: FakeAccounts
) -> None:
    await auth.get_token()
    [request] = accounts.requests
    assert (request.grant_type, request.client_id, request.outcome) == (
        "refresh_token", accounts.client_id, "ok",
    )  # fmt: skip


@pytest.mark.parametrize("in_ms", [False, True])
async def test_expires_in_seconds_or_milliseconds(
    server: FakeServer, accounts: FakeAccounts, clock: WallClock, in_ms: bool
) -> None:
    accounts.expires_in_ms = in_ms
    async with make_auth(server, accounts, clock=clock, refresh_margin=60) as provider:
        token = await provider.get_token()
        clock.advance(3600 - 61)  # 61 s left: more than the margin
        assert await provider.get_token() == token
        assert accounts.mints == 1
        clock.advance(2)  # 59 s left: refresh ahead of expiry
        assert await provider.get_token() != token
        assert accounts.mints == 2


async def test_short_lived_tokens_use_a_quarter_of_their_life_as_margin(
    server: FakeServer, accounts: FakeAccounts, clock: WallClock
) -> None:
    accounts.token_life = 8.0
    async with make_auth(server, accounts, clock=clock, refresh_margin=60) as provider:
        token = await provider.get_token()
        clock.advance(5.9)
        assert await provider.get_token() == token
        clock.advance(0.2)  # less than 8/4 s left
        assert await provider.get_token() != token
        assert accounts.mints == 2


async def test_failed_early_refresh_keeps_the_valid_token(
    server: FakeServer, accounts: FakeAccounts, clock: WallClock
) -> None:
    async with make_auth(server, accounts, clock=clock) as provider:
        token = await provider.get_token()
        accounts.revoke_refresh_token()
        clock.advance(3600 - 30)
        # Still valid for 30 s: used while the refresh fails, without asking per call.
        for _ in range(5):
            assert await provider.get_token() == token
        assert len(accounts.requests) == 2
        clock.advance(31)
        with pytest.raises(OAuthError) as caught:
            await provider.get_token()
        assert caught.value.code == "INVALID_CODE"


async def test_refresh_with_a_stale_rejected_token_mints_nothing(
    auth: RefreshTokenAuth, accounts: FakeAccounts
) -> None:
    token = await auth.get_token()
    assert await auth.refresh("an-older-token") == token
    assert accounts.mints == 1
    new = await auth.refresh(token)
    assert new is not None and new != token
    assert accounts.mints == 2
    assert await auth.get_token() == new


# -- single flight ---------------------------------------------------------------------


async def test_concurrent_first_use_mints_once(
    auth: RefreshTokenAuth, accounts: FakeAccounts
) -> None:
    accounts.latency = 0.05
    tokens = await asyncio.gather(*(auth.get_token() for _ in range(50)))
    assert len(set(tokens)) == 1
    assert accounts.mints == 1


async def test_fifty_concurrent_refreshes_mint_once(
    auth: RefreshTokenAuth, accounts: FakeAccounts
) -> None:
    old = await auth.get_token()
    accounts.latency = 0.05
    tokens = await asyncio.gather(*(auth.refresh(old) for _ in range(50)))
    assert len(set(tokens)) == 1 and tokens[0] != old
    assert accounts.mints == 2


async def test_concurrent_refresh_failure_is_shared(
    auth: RefreshTokenAuth, accounts: FakeAccounts
) -> None:
    old = await auth.get_token()
    accounts.revoke_refresh_token()
    accounts.latency = 0.05
    results = await asyncio.gather(*(auth.refresh(old) for _ in range(50)), return_exceptions=True)
    assert all(isinstance(r, OAuthError) and r.code == "INVALID_CODE" for r in results)
    assert len({id(r) for r in results}) == 50  # each caller its own exception object
    assert len(accounts.requests) == 2


async def test_fifty_workers_hitting_an_expired_token_refresh_once(
    fake_crm: FakeCRM, auth: RefreshTokenAuth, accounts: FakeAccounts, server: FakeServer
) -> None:
    ids = fake_crm.record_ids("Deals")[:50]
    async with LockingClient(
        auth=auth, api_domain=server.url, max_concurrency=50, adaptive_concurrency=False
    ) as client:
        old = await auth.get_token()
        fake_crm.revoke_token(old)  # the CRM now answers 401 INVALID_TOKEN
        server.latency = 0.02  # so that all 50 are in flight together
        results = await asyncio.gather(*(client.get_locks("Deals", i) for i in ids))
    assert results == [[]] * 50
    assert fake_crm.status_counts[401] == 50
    assert accounts.mints == 2


async def test_scope_mismatch_is_not_refreshed(
    fake_crm: FakeCRM, auth: RefreshTokenAuth, accounts: FakeAccounts, server: FakeServer
) -> None:
    accounts.scopes = frozenset({"ZohoCRM.modules.lockinginformation.READ"})
    async with LockingClient(auth=auth, api_domain=server.url) as client:
        with pytest.raises(AuthError) as caught:
            await client.lock("Deals", fake_crm.record_ids("Deals")[0], reason="x")
    assert caught.value.code == "OAUTH_SCOPE_MISMATCH"
    assert "ZohoCRM.modules.lockinginformation" in str(caught.value)
    assert accounts.mints == 1


# -- accounts failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "code", "words"),
    [("client_id", "INVALID_CLIENT", "client_id is unknown"),
     ("client_secret", "INVALID_CLIENT_SECRET", "client_secret does not match"),
     ("refresh_token", "INVALID_CODE", "revoked")],
)  # fmt: skip
async def test_bad_credentials(
    server: FakeServer, accounts: FakeAccounts, field: str, code: str, words: str
) -> None:
    async with make_auth(server, accounts, **{field: "1000.wrong-" + field}) as provider:
        with pytest.raises(OAuthError) as caught:
            await provider.get_token()
    error = caught.value
    assert (error.code, error.http_status) == (code, 200)
    assert words in error.message
    assert_no_secrets(str(error), repr(error), extra=("wrong-",) if field != "client_id" else ())
    assert accounts.mints == 0


@pytest.mark.parametrize(
    ("status", "body", "code", "words"),
    [(400, {"error": "invalid_client"}, "INVALID_CLIENT", "client_id"),
     (200, {"error": "invalid_grant", "error_description": "nope"}, "INVALID_GRANT", "nope"),
     (200, {"error": "weird thing!"}, "WEIRD_THING", "weird thing!"),
     (502, "<html>502 Bad Gateway</html>", "INVALID_RESPONSE", "HTTP 502"),
     (200, "", "INVALID_RESPONSE", "not a JSON object"),
     (200, {"status": "success"}, "INVALID_RESPONSE", "neither"),
     (200, {"access_token": "t", "expires_in": "soon"}, "INVALID_RESPONSE", "expires_in"),
     (429, "slow down", "THROTTLED", "10 access-token requests per 10 minutes")],
)  # fmt: skip
async def test_odd_answers(
    auth: RefreshTokenAuth, accounts: FakeAccounts,
    status: int, body: Any, code: str, words: str,
) -> None:  # fmt: skip
    accounts.answer_next(status, body, content_type="text/html")
    with pytest.raises(OAuthError) as caught:
        await auth.get_token()
    assert (caught.value.code, caught.value.http_status) == (code, status)
    assert words in caught.value.message


async def test_server_texts_are_scrubbed_of_secrets(
    auth: RefreshTokenAuth, accounts: FakeAccounts
) -> None:
    echo = f"bad {FakeAccounts.REFRESH_TOKEN} for {FakeAccounts.CLIENT_SECRET}"
    accounts.answer_next(200, {"error": "invalid_code", "error_description": echo})
    with pytest.raises(OAuthError) as caught:
        await auth.get_token()
    assert "bad *** for ***" in caught.value.message
    assert_no_secrets(str(caught.value))


async def test_unreachable_accounts_server_is_an_oauth_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with RefreshTokenAuth(
        client_id="id", client_secret="s3cret", refresh_token="r3fresh",
        accounts_url=f"http://127.0.0.1:{port}",
    ) as provider:  # fmt: skip
        with pytest.raises(OAuthError) as caught:
            await provider.get_token()
    assert caught.value.code == "TRANSPORT_ERROR"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_slow_accounts_server_times_out(server: FakeServer, accounts: FakeAccounts) -> None:
    accounts.latency = 1.0
    async with make_auth(server, accounts, timeout=0.1) as provider:
        with pytest.raises(OAuthError) as caught:
            await provider.get_token()
    assert caught.value.code == "TIMEOUT"


# -- throttling --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 200])
async def test_throttle_is_not_retried(
    server: FakeServer, accounts: FakeAccounts, clock: WallClock, status: int
) -> None:
    accounts.max_mints, accounts.throttle_status = 1, status
    async with make_auth(server, accounts, clock=clock, throttle_cooldown=60) as provider:
        old = await provider.get_token()
        with pytest.raises(OAuthError) as caught:
            await provider.refresh(old)
        assert (caught.value.code, caught.value.http_status) == ("THROTTLED", status)
        assert "10 access-token requests per 10 minutes" in str(caught.value)
        assert "Not retried" in str(caught.value)
        assert len(accounts.requests) == 2 and accounts.throttled == 1
        # During the cool-down, further refreshes fail at once without asking.
        for _ in range(5):
            with pytest.raises(OAuthError, match="THROTTLED"):
                await provider.refresh(old)
        assert len(accounts.requests) == 2
        clock.advance(61)
        accounts.max_mints = 10
        assert await provider.refresh(old) != old
        assert len(accounts.requests) == 3


async def test_throttle_through_the_client(
    fake_crm: FakeCRM, auth: RefreshTokenAuth, accounts: FakeAccounts, server: FakeServer
) -> None:
    accounts.max_mints = 1
    async with LockingClient(auth=auth, api_domain=server.url) as client:
        deal = fake_crm.record_ids("Deals")[0]
        await client.get_locks("Deals", deal)
        fake_crm.revoke_token(await auth.get_token())
        for _ in range(3):
            with pytest.raises(OAuthError, match="THROTTLED"):
                await client.get_locks("Deals", deal)
    assert len(accounts.requests) == 2


def test_fake_throttles_after_ten_requests_in_ten_minutes() -> None:
    now = [0.0]
    crm = FakeCRM(clock=lambda: now[0])
    accounts = FakeAccounts()
    form = (
        f"grant_type=refresh_token&client_id={accounts.client_id}"
        f"&client_secret={accounts.client_secret}&refresh_token={accounts.refresh_token}"
    ).encode()

    def ask() -> dict[str, Any]:
        answer = accounts.handle(crm, "POST", {}, form, api_domain="http://127.0.0.1:1")
        result: dict[str, Any] = json.loads(answer.body)
        return result

    assert all("access_token" in ask() for _ in range(10))
    assert ask()["error"] == "Access Denied"
    now[0] = 600.0
    assert "access_token" in ask()
    assert accounts.mints == 11


def test_fake_revokes_the_oldest_of_more_than_ten_live_tokens() -> None:
    crm = FakeCRM()
    accounts = FakeAccounts(max_mints=100)
    form = (
        f"grant_type=refresh_token&client_id={accounts.client_id}"
        f"&client_secret={accounts.client_secret}&refresh_token={accounts.refresh_token}"
    ).encode()
    tokens = [
        json.loads(accounts.handle(crm, "POST", {}, form, api_domain="x").body)["access_token"]
        for _ in range(11)
    ]

    def accepted(token: str) -> bool:
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        path = f"/crm/v8/Deals/{crm.add_records('Deals', 1)[0]}/Locking_Information__s"
        return crm.handle("GET", path, {}, headers, b"").status != 401

    assert not accepted(tokens[0])
    assert all(accepted(token) for token in tokens[1:])


# -- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "lifetime"),
    [({"expires_in": 3600}, 3600.0),
     ({"expires_in": 3600000, "expires_in_sec": 3600}, 3600.0),
     ({"expires_in": 3600000, "expires_in_sec": None}, 3600.0),
     ({"expires_in": "3600"}, 3600.0),
     ({}, 3600.0)],
)  # fmt: skip
def test_parse_lifetime(doc: dict[str, Any], lifetime: float) -> None:
    body = json.dumps({"access_token": "tok", "api_domain": "https://www.zohoapis.eu", **doc})
    token = parse_token_answer(200, body.encode(), now=1000.0)
    assert token == CachedToken("tok", 1000.0 + lifetime, "https://www.zohoapis.eu", lifetime)


def test_parse_ignores_an_unusable_api_domain(caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"access_token": "tok", "api_domain": "http://evil.example.com"})
    assert parse_token_answer(200, body.encode(), now=0).api_domain is None
    assert "ignoring the unusable api_domain" in caplog.text


# -- token stores --------------------------------------------------------------------------


def test_cached_token_and_stores_hide_the_token(tmp_path: Path) -> None:
    token = CachedToken("1000.secret-access", 5.0, None, 1.0)
    for text in (repr(token), str(token), repr(MemoryTokenStore()),
                 repr(FileTokenStore(tmp_path / "t.json"))):  # fmt: skip
        assert "secret-access" not in text
    assert isinstance(MemoryTokenStore(), TokenStore)
    assert isinstance(FileTokenStore(tmp_path / "t.json"), TokenStore)


@pytest.fixture
def token_file(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "cache" / "zoho-token.json"


# Plain functions: file I/O inside the async tests would block their loop.
def read(path: Path) -> str:
    return path.read_text()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write(path: Path, text: str, file_mode: int = 0o600) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    path.chmod(file_mode)


@posix_only
async def test_file_store_is_private_atomic_and_reused(
    server: FakeServer, accounts: FakeAccounts, token_file: Path
) -> None:
    async with make_auth(server, accounts, store=FileTokenStore(token_file)) as first:
        token = await first.get_token()
    assert mode(token_file) == 0o600
    # No temporary files left; the (empty) lock file beside it stays, private too.
    lock_file = token_file.with_name(token_file.name + ".lock")
    assert sorted(os.listdir(token_file.parent)) == [token_file.name, lock_file.name]
    assert mode(lock_file) == 0o600 and read(lock_file) == ""
    text = read(token_file)
    assert_no_secrets(text)
    assert token in text  # the access token itself, which is why the file is 0600
    # The next run of the script reuses the token: no mint.
    async with make_auth(server, accounts, store=FileTokenStore(token_file)) as second:
        assert await second.get_token() == token
        assert second.api_domain == server.url
    assert accounts.mints == 1


@posix_only
async def test_file_store_replaces_a_world_readable_file(
    server: FakeServer, accounts: FakeAccounts, token_file: Path
) -> None:
    write(token_file, "{}", 0o644)
    async with make_auth(server, accounts, store=FileTokenStore(token_file)) as provider:
        await provider.get_token()
    assert mode(token_file) == 0o600


async def test_file_store_keys_tokens_by_client_and_refresh_token(
    server: FakeServer, accounts: FakeAccounts, token_file: Path
) -> None:
    async with make_auth(server, accounts, store=FileTokenStore(token_file)) as first:
        token = await first.get_token()
    accounts.refresh_token = "1000.another-refresh-token"
    async with make_auth(server, accounts, store=FileTokenStore(token_file)) as second:
        other = await second.get_token()
    assert other != token and accounts.mints == 2
    assert len(json.loads(read(token_file))["tokens"]) == 2
    assert "another-refresh-token" not in read(token_file)


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"format": 99}', '{"format": 1, "tokens": {"k": 1}}'],
)
async def test_file_store_ignores_a_corrupt_file(
    server: FakeServer, accounts: FakeAccounts, token_file: Path, content: str
) -> None:
    write(token_file, content)
    async with make_auth(server, accounts, store=FileTokenStore(token_file)) as provider:
        token = await provider.get_token()
    assert accounts.mints == 1
    assert await FileTokenStore(token_file).load(provider.config.store_key) == provider._token
    assert token in read(token_file)


async def test_expired_stored_token_is_not_reused(
    server: FakeServer, accounts: FakeAccounts, token_file: Path, clock: WallClock
) -> None:
    async with make_auth(server, accounts, store=FileTokenStore(token_file), clock=clock) as p:
        token = await p.get_token()
    clock.advance(3600)
    async with make_auth(server, accounts, store=FileTokenStore(token_file), clock=clock) as p:
        assert await p.get_token() != token
    assert accounts.mints == 2


async def test_revoked_stored_token_is_replaced_on_401(
    fake_crm: FakeCRM, server: FakeServer, accounts: FakeAccounts, token_file: Path
) -> None:
    async with make_auth(server, accounts, store=FileTokenStore(token_file)) as provider:
        fake_crm.revoke_token(await provider.get_token())
    async with (
        make_auth(server, accounts, store=FileTokenStore(token_file)) as provider,
        LockingClient(auth=provider, api_domain=server.url) as client,
    ):
        assert await client.get_locks("Deals", fake_crm.record_ids("Deals")[0]) == []
    assert accounts.mints == 2 and fake_crm.status_counts[401] == 1


async def test_unwritable_store_costs_no_token(
    server: FakeServer, accounts: FakeAccounts, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("")
    store = FileTokenStore(tmp_path / "a-file" / "token.json")
    async with make_auth(server, accounts, store=store) as provider:
        assert await provider.get_token()
    assert "could not save the access token" in caplog.text


# -- secrets -----------------------------------------------------------------------------


async def test_secrets_never_show(
    auth: RefreshTokenAuth, accounts: FakeAccounts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await auth.get_token()
    accounts.revoke_refresh_token()
    with pytest.raises(OAuthError) as caught:
        await auth.refresh(token)
    texts = (repr(auth), str(auth), repr(auth.store), str(caught.value), repr(caught.value),
             caplog.text)  # fmt: skip
    assert_no_secrets(*texts, extra=(token,))
    assert "minted an access token" in caplog.text


# -- bulk runs outliving their tokens ---------------------------------------------------------


async def test_bulk_run_with_tokens_expiring_every_second() -> None:
    crm = FakeCRM(default_token=False)
    ids = crm.add_records("Deals", 3000)
    accounts = FakeAccounts(token_life=1.0, max_mints=100)
    # 3000 records, 10 at a time, 4 ms each: at least 1.2 s, so tokens expire mid-run.
    async with (
        FakeServer(crm, latency=0.004, accounts=accounts) as server,
        make_auth(server, accounts, refresh_margin=0.1) as provider,
        LockingClient(auth=provider, api_domain=server.url) as client,
    ):
        report = await client.lock_many("Deals", ids, reason="quarter close")
    print(f"{report.wall_time:.2f}s, {accounts.mints} mints, {report.requests} requests")
    assert report.failed == 0 and report.succeeded == 3000
    assert "INVALID_TOKEN" not in report.by_code
    assert accounts.mints >= 2
    assert accounts.mints <= report.wall_time / accounts.token_life + 3
    assert accounts.mints * 100 < report.requests
    assert accounts.throttled == 0


async def test_bulk_run_refreshing_only_on_401() -> None:
    # The client's clock runs slow, so the CRM expires each token before the
    # client expects: every expiry is met by a volley of 401s, one refresh each.
    crm = FakeCRM(default_token=False)
    ids = crm.add_records("Deals", 1500)
    accounts = FakeAccounts(token_life=0.5, max_mints=100)
    start = time.time()
    # 1500 records, 10 at a time, 4 ms each: at least 0.6 s, over one token's life.
    async with (
        FakeServer(crm, latency=0.004, accounts=accounts) as server,
        make_auth(
            server, accounts, refresh_margin=0,
            clock=lambda: start + (time.time() - start) * 0.8,
        ) as provider,
        LockingClient(auth=provider, api_domain=server.url) as client,
    ):  # fmt: skip
        report = await client.lock_many("Deals", ids, reason="quarter close")
    print(f"{report.wall_time:.2f}s, {accounts.mints} mints, {crm.status_counts[401]} 401s")
    assert report.failed == 0 and report.succeeded == 1500
    assert "INVALID_TOKEN" not in report.by_code
    assert crm.status_counts[401] > 0 and accounts.mints >= 2
    assert accounts.mints <= report.wall_time / accounts.token_life + 3
    assert accounts.mints * 100 < report.requests


# -- the client and the provider ----------------------------------------------------------


async def test_client_takes_api_domain_from_the_accounts_answer(
    fake_crm: FakeCRM, server: FakeServer, accounts: FakeAccounts
) -> None:
    provider = make_auth(server, accounts)
    async with LockingClient(auth=provider) as client:
        assert client.api_domain is None
        deal = fake_crm.record_ids("Deals")[0]
        lock = await client.lock("Deals", deal, reason="from the token's api_domain")
        assert client.api_domain == server.url
        assert fake_crm.lock_of("Deals", deal) is not None and lock.id
    assert accounts.mints == 1


async def test_client_closes_the_provider(server: FakeServer, accounts: FakeAccounts) -> None:
    provider = make_auth(server, accounts)
    async with LockingClient(auth=provider, api_domain=server.url) as client:
        await client.get_locks("Deals", server.crm.record_ids("Deals")[0])
        session = provider.session
        assert session is not None and not session.closed
    assert session.closed and provider.session is None
    # A provider shared with another client opens a new session when used again.
    async with LockingClient(auth=provider, api_domain=server.url) as client:
        await client.get_locks("Deals", server.crm.record_ids("Deals")[0])
    assert accounts.mints == 1


def test_static_token_still_needs_a_domain() -> None:
    with pytest.raises(ValidationError, match="api_domain"):
        LockingClient(access_token="t")


async def test_refused_credentials_are_not_asked_again(
    server: FakeServer, accounts: FakeAccounts
) -> None:
    # 50 workers on a revoked refresh token: one accounts request, not one per worker.
    async with make_auth(server, accounts) as auth:
        token = await auth.get_token()
        accounts.revoke_refresh_token()
        before = len(accounts.requests)
        results = await asyncio.gather(
            *(auth.refresh(token) for _ in range(50)), return_exceptions=True
        )
        again = await asyncio.gather(*(auth.get_token() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, OAuthError) and r.code == "INVALID_CODE" for r in results + again)
    assert len(accounts.requests) - before == 1


OK_LOCK = b'{"data":[{"code":"SUCCESS","details":{"id":"9"},"message":"ok","status":"success"}]}'


async def test_a_static_token_is_read_once_and_sent_with_every_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A `StaticToken` cannot change, so it is read once; a subclass is asked every time."""
    from zoho_locking import MockTransport, Response

    reads = 0
    read = StaticToken.get_token

    async def counted(self: StaticToken) -> str:
        nonlocal reads
        reads += 1
        return await read(self)

    monkeypatch.setattr(StaticToken, "get_token", counted)

    class Counting(StaticToken):
        asked = 0

        async def get_token(self) -> str:
            Counting.asked += 1
            return await super().get_token()

    seen: list[str] = []

    def answer(request: Any, auth: Any) -> Response:
        seen.append(auth["Authorization"])
        return Response(201, {}, OK_LOCK)

    for provider in (StaticToken("tok-a"), Counting("tok-b")):
        async with LockingClient(
            auth=provider, api_domain="https://www.zohoapis.com", transport=MockTransport(answer)
        ) as client:
            report = await client.lock_many("Deals", [str(n) for n in range(1, 6)], reason="r")
        assert report.succeeded == 5
    assert seen == ["Zoho-oauthtoken tok-a"] * 5 + ["Zoho-oauthtoken tok-b"] * 5
    assert Counting.asked == 5  # not a static token to the exchange: asked per request
    assert reads == 1 + 5  # the static token once, the subclass's five through super()
