"""From a grant code to the first refresh token: the library, the fake accounts server, scopes.

`exchange_grant_code` against `FakeAccounts` on loopback: a code works once,
a refused client does not use it up, the access token that comes with the
refresh token is kept where `RefreshTokenAuth` looks (so it mints nothing),
and no code, token or secret shows in any repr or error. The consent page
redirects at once with the code and the state.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from helpers import FakeClock

from zoho_locking import (
    FileTokenStore,
    GrantedTokens,
    LockingClient,
    OAuthError,
    RefreshTokenAuth,
    exchange_grant_code,
)
from zoho_locking.errors import AuthError
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer
from zoho_locking.wire.scopes import coverage, granted_modules, split_scopes

SECRET = FakeAccounts.CLIENT_SECRET


async def _exchange(server: FakeServer, code: str, **options: object) -> GrantedTokens:
    accounts = server.accounts
    assert accounts is not None
    settings: dict[str, object] = {
        "client_id": accounts.client_id, "client_secret": accounts.client_secret,
        "accounts_url": server.url, **options,
    }  # fmt: skip
    return await exchange_grant_code(code, **settings)  # type: ignore[arg-type]


async def test_a_code_gives_a_refresh_token_that_then_locks_records(tmp_path: Path) -> None:
    crm = FakeCRM(default_token=False)
    (deal,) = crm.add_records("Deals", 1)
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts) as server:
        code = accounts.issue_code(crm)
        granted = await _exchange(server, code)
        text = repr(granted)
        for secret in (granted.refresh_token, granted.access.access_token, code, SECRET):
            assert secret not in text
        assert granted.api_domain == server.url and granted.accounts_url == server.url
        assert set(granted.scopes) == {
            "ZohoCRM.modules.lockinginformation.ALL", "ZohoCRM.modules.ALL", "ZohoCRM.coql.READ"
        }  # fmt: skip
        assert not granted.kept and accounts.codes_exchanged == 1
        # The refresh token is a real one: it mints, and the CRM takes what it mints.
        auth = RefreshTokenAuth(
            client_id=accounts.client_id, client_secret=SECRET,
            refresh_token=granted.refresh_token, accounts_url=server.url,
        )  # fmt: skip
        async with auth, LockingClient(auth=auth) as client:
            lock = await client.lock("Deals", deal, reason="first refresh token")
        assert crm.lock_of("Deals", deal) is not None and lock.id
        assert accounts.mints == 1

        # Used once: the same code again is refused, with HTTP 200, and shown nowhere.
        with pytest.raises(OAuthError) as used:
            await _exchange(server, code)
    assert used.value.code == "INVALID_CODE" and used.value.http_status == 200
    assert "generate a new one" in str(used.value)
    assert code not in str(used.value) and code not in repr(used.value)


async def test_a_wrong_secret_is_refused_and_leaves_the_code_usable() -> None:
    crm = FakeCRM()
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts) as server:
        code = accounts.issue_code(crm)
        with pytest.raises(OAuthError) as refused:
            await _exchange(server, code, client_secret="not-the-secret-42")
        assert refused.value.code == "INVALID_CLIENT"
        assert "not-the-secret-42" not in str(refused.value) and code not in str(refused.value)
        assert "ZOHO_CLIENT_SECRET" in str(refused.value)
        granted = await _exchange(server, code)  # the refusal did not use the code up
    assert granted.refresh_token
    assert [entry.outcome for entry in accounts.requests] == ["invalid_client", "ok"]


async def test_an_expired_code_is_refused() -> None:
    clock = FakeClock()
    crm = FakeCRM(clock=clock.now)
    accounts = FakeAccounts(code_life=180.0)
    async with FakeServer(crm, accounts=accounts) as server:
        code = accounts.issue_code(crm)
        clock.t += 180.0
        with pytest.raises(OAuthError, match="used, expired or mistyped"):
            await _exchange(server, code)


async def test_the_access_token_is_kept_so_the_first_run_mints_nothing(tmp_path: Path) -> None:
    crm = FakeCRM(default_token=False)
    (deal,) = crm.add_records("Deals", 1)
    accounts = FakeAccounts()
    store = FileTokenStore(tmp_path / "tokens.json")
    async with FakeServer(crm, accounts=accounts) as server:
        granted = await _exchange(server, accounts.issue_code(crm), store=store)
        assert granted.kept
        auth = RefreshTokenAuth(
            client_id=accounts.client_id, client_secret=SECRET,
            refresh_token=granted.refresh_token, accounts_url=server.url + "/", store=store,
        )  # fmt: skip
        async with auth, LockingClient(auth=auth) as client:
            await client.lock("Deals", deal, reason="no mint")
    assert accounts.mints == 0 and auth.mint_requests == 0
    assert [entry.grant_type for entry in accounts.requests] == ["authorization_code"]
    text = (tmp_path / "tokens.json").read_text()
    assert granted.access.access_token in text and granted.refresh_token not in text


class _BrokenStore:
    async def load(self, key: str) -> None:
        return None

    async def save(self, key: str, token: object) -> None:
        raise OSError("disk full")


async def test_a_failing_store_only_warns_the_refresh_token_still_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    crm = FakeCRM()
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts) as server:
        with caplog.at_level(logging.WARNING, "zoho_locking.auth"):
            granted = await _exchange(server, accounts.issue_code(crm), store=_BrokenStore())
    assert granted.refresh_token and not granted.kept
    assert "could not keep the access token" in caplog.text
    assert granted.access.access_token not in caplog.text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html>bad gateway</html>", "not a JSON object"),
        ({"access_token": "1000.a.b", "api_domain": "http://127.0.0.1:9"}, "no refresh token"),
        ({"error": "invalid_code"}, "used, expired or mistyped"),
    ],
)
async def test_unusable_answers_are_one_clear_error(body: object, expected: str) -> None:
    crm = FakeCRM()
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts) as server:
        accounts.answer_next(200, body)  # type: ignore[arg-type]
        with pytest.raises(OAuthError, match=expected):
            await _exchange(server, "1000.some.code")


async def test_no_answer_is_one_clear_error() -> None:
    async with FakeServer() as server:
        url = server.url
    with pytest.raises(OAuthError) as failed:
        await exchange_grant_code(
            "1000.some.code", client_id="1000.X", client_secret=SECRET, accounts_url=url
        )
    assert failed.value.code == "TRANSPORT_ERROR" and SECRET not in str(failed.value)


async def test_arguments_are_checked_before_anything_is_sent() -> None:
    from zoho_locking import ValidationError

    with pytest.raises(ValidationError, match="code"):
        await exchange_grant_code("", client_id="1000.X", client_secret=SECRET, dc="us")
    with pytest.raises(ValidationError, match="exactly one"):
        await exchange_grant_code("c", client_id="1000.X", client_secret=SECRET)
    with pytest.raises(ValidationError, match="http"):
        await exchange_grant_code(
            "c", client_id="1000.X", client_secret=SECRET, accounts_url="http://accounts.example"
        )


async def test_the_consent_page_redirects_with_a_code_and_the_state() -> None:
    crm = FakeCRM(default_token=False)
    (deal,) = crm.add_records("Deals", 1)
    accounts = FakeAccounts()
    redirect = "http://127.0.0.1:1/callback"
    async with FakeServer(crm, accounts=accounts) as server, aiohttp.ClientSession() as http:
        consent = f"{server.url}/oauth/v2/auth"
        query = {
            "scope": "ZohoCRM.modules.lockinginformation.READ,ZohoCRM.modules.Deals.READ",
            "client_id": accounts.client_id, "response_type": "code",
            "access_type": "offline", "redirect_uri": redirect, "state": "s-123",
        }  # fmt: skip
        async with http.get(consent, params=query, allow_redirects=False) as r:
            assert r.status == 302
            location = r.headers["Location"]
        assert location.startswith(redirect + "?")
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert params["state"] == "s-123" and params["accounts-server"] == server.url
        # A code sent to a redirect URI is exchanged with that same URI only.
        with pytest.raises(OAuthError, match="INVALID_REDIRECT_URI"):
            await _exchange(server, params["code"])
        granted = await _exchange(server, params["code"], redirect_uri=redirect)
        assert granted.scopes == (
            "ZohoCRM.modules.Deals.READ", "ZohoCRM.modules.lockinginformation.READ"
        )  # fmt: skip
        # The CRM holds the token to those scopes: it may read locks, not make one.
        auth = RefreshTokenAuth(
            client_id=accounts.client_id, client_secret=SECRET,
            refresh_token=granted.refresh_token, accounts_url=server.url,
        )  # fmt: skip
        async with auth, LockingClient(auth=auth) as client:
            assert await client.get_locks("Deals", deal) == []
            with pytest.raises(AuthError, match="OAUTH_SCOPE_MISMATCH"):
                await client.lock("Deals", deal, reason="not allowed")
        # Without access_type=offline, no refresh token: said plainly.
        online = {**query, "access_type": "online"}
        async with http.get(consent, params=online, allow_redirects=False) as r:
            code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
        with pytest.raises(OAuthError, match="access_type=offline"):
            await _exchange(server, code, redirect_uri=redirect)
        bad = {**query, "client_id": "1000.OTHER"}
        async with http.get(consent, params=bad, allow_redirects=False) as r:
            assert r.status == 400 and "Invalid Client" in await r.text()


def test_scope_coverage_for_each_command() -> None:
    every = split_scopes(
        "ZohoCRM.modules.lockinginformation.ALL,ZohoCRM.modules.ALL ZohoCRM.coql.READ"
    )
    assert granted_modules(every) is None
    assert coverage(every, None).covered == ("lock", "unlock", "update", "status", "--where")
    deals = split_scopes("ZohoCRM.modules.lockinginformation.ALL ZohoCRM.modules.deals.ALL")
    assert granted_modules(deals) == ("deals",)
    on_deals = coverage(deals, "Deals")
    assert on_deals.covered == ("lock", "unlock", "update", "status")
    assert on_deals.missing == (("--where", "ZohoCRM.coql.READ"),)
    per_operation = split_scopes(
        "ZohoCRM.modules.lockinginformation.CREATE ZohoCRM.modules.lockinginformation.READ "
        "ZohoCRM.modules.Deals.ALL"
    )
    cover = coverage(per_operation, "Deals")
    assert cover.covered == ("lock", "status")
    assert dict(cover.missing)["unlock"] == "ZohoCRM.modules.lockinginformation.DELETE or .ALL"
    no_module = coverage(split_scopes("ZohoCRM.modules.lockinginformation.ALL"), None)
    assert no_module.covered == ()
    assert dict(no_module.missing)["lock"] == (
        "ZohoCRM.modules.{module}.ALL or ZohoCRM.modules.ALL"
    )
    assert split_scopes(None) == () and split_scopes("a, b a") == ("a", "b")


def test_the_fake_answer_names_scope_and_refresh_token() -> None:
    crm = FakeCRM()
    accounts = FakeAccounts()
    code = accounts.issue_code(crm, scopes=["ZohoCRM.modules.ALL"])
    form = f"grant_type=authorization_code&client_id={accounts.client_id}"
    form += f"&client_secret={SECRET}&code={code}"
    answer = accounts.handle(crm, "POST", {}, form.encode(), api_domain="http://x")
    doc = json.loads(answer.body)
    assert answer.status == 200 and doc["scope"] == "ZohoCRM.modules.ALL"
    assert set(doc) == {
        "access_token", "refresh_token", "scope", "api_domain", "token_type", "expires_in"
    }  # fmt: skip
    again = accounts.handle(crm, "POST", {}, form.encode(), api_domain="http://x")
    assert json.loads(again.body) == {"error": "invalid_code"} and again.status == 200
