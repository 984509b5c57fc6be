"""Proxies: every request of the library and the command line through a real proxy process.

The proxy is `forward_proxy.py`, an aiohttp forward proxy run as a process of
its own on loopback, logging every request it forwards or refuses. The fake
CRM and its accounts server listen on ``http://127.0.0.1``, so plain
``HTTP_PROXY`` applies to them (no ``NO_PROXY`` is set unless a test sets it).
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from forward_proxy import RunningProxy, start_proxy
from helpers import TOKEN, cli_env, refresh_env, run_cli, run_cli_process

from zoho_locking import (
    LockingClient,
    OAuthError,
    Proxies,
    ProxyError,
    RefreshTokenAuth,
    RetryPolicy,
    ValidationError,
)
from zoho_locking.net.proxy import redact_proxy
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer

PASSWORD = "pr0xy-S3cret"
QUICK = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)

# -- which proxy, for which URL ----------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:2"},
        {"HTTPS_PROXY": "http://a:3", "NO_PROXY": "example.com"},
        {"HTTP_PROXY": "http://cgi:4", "REQUEST_METHOD": "GET"},
        {"HTTP_PROXY": "http://set:5", "http_proxy": ""},
        {"no_proxy": "*", "https_proxy": "http://b:6"},
    ],
)
def test_the_environment_is_read_as_urllib_reads_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    expected = urllib.request.getproxies_environment()
    proxies = Proxies.from_env()
    for scheme in ("http", "https"):
        route = getattr(proxies, scheme)
        assert (route.url if route else None) == expected.get(scheme)
    assert proxies.no_proxy == expected.get("no", "")


def test_no_proxy_sends_those_hosts_direct() -> None:
    proxies = Proxies.from_env(
        {"HTTPS_PROXY": "proxy.corp:3128", "HTTP_PROXY": "http://proxy.corp:3128",
         "NO_PROXY": "localhost, .internal,127.0.0.1:8080"}
    )  # fmt: skip
    assert proxies.route("https://www.zohoapis.eu/crm/v8/Deals") is not None
    assert proxies.route("https://crm.internal/crm/v8/Deals") is None
    assert proxies.route("http://localhost:9/x") is None
    assert proxies.route("http://127.0.0.1:8080/x") is None
    assert proxies.route("http://127.0.0.1:8081/x") is not None  # another port
    assert Proxies().route("https://www.zohoapis.eu/") is None
    # One proxy given outright takes every request, NO_PROXY or not.
    assert Proxies.to("http://p:1").route("http://localhost:9/") is not None


def test_credentials_go_to_the_proxy_and_never_through_a_tunnel() -> None:
    proxies = Proxies.to(f"http://user:{PASSWORD}@proxy.corp:3128")
    tunnel = proxies.route("https://www.zohoapis.com/crm/v8/Deals")
    plain = proxies.route("http://127.0.0.1:8080/crm/v8/Deals")
    assert tunnel is not None and plain is not None
    # https:// origin: the credentials ride in the CONNECT only, never to Zoho.
    headers, proxy, connect_headers = tunnel.apply({"Authorization": "Zoho-oauthtoken t"})
    assert headers == {"Authorization": "Zoho-oauthtoken t"}
    assert proxy == "http://proxy.corp:3128" and connect_headers is not None
    assert connect_headers["Proxy-Authorization"].startswith("Basic ")
    # http:// origin: the request itself carries them (to the proxy, which drops them).
    headers, proxy, connect_headers = plain.apply({"Authorization": "Zoho-oauthtoken t"})
    assert "Proxy-Authorization" in headers and connect_headers is None


def test_proxy_credentials_are_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://user:{PASSWORD}@proxy.corp:3128"
    monkeypatch.setenv("HTTPS_PROXY", url)
    shown = [
        repr(Proxies.to(url)), repr(Proxies.from_env()), redact_proxy(url),
        repr(Proxies.to(url).route("https://www.zohoapis.com/")),
        repr(LockingClient(access_token=TOKEN, dc="eu", proxy=url)),
        repr(RefreshTokenAuth(client_id="1000.X", client_secret="s", refresh_token="r", dc="eu")),
    ]  # fmt: skip
    for bad in (f"socks5://user:{PASSWORD}@proxy:1080", f"http://user:{PASSWORD}@"):
        with pytest.raises(ValidationError) as caught:
            LockingClient(access_token=TOKEN, dc="eu", proxy=bad)
        shown.append(str(caught.value))
    assert all(PASSWORD not in text for text in shown), shown
    assert redact_proxy(url) == "http://***@proxy.corp:3128"


# -- the library, through a proxy process -------------------------------------------------


@pytest.fixture
def crm() -> FakeCRM:
    crm = FakeCRM(default_token=False)
    crm.add_records("Deals", 5)
    return crm


def crm_requests(proxy: RunningProxy) -> list[tuple[str, str, int]]:
    return [seen for seen in proxy.seen() if "/crm/" in seen[1]]


def token_requests(proxy: RunningProxy) -> list[tuple[str, str, int]]:
    return [seen for seen in proxy.seen() if seen[1].endswith("/oauth/v2/token")]


async def test_client_and_token_provider_go_through_the_environments_proxy(
    crm: FakeCRM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = FakeAccounts()
    async with start_proxy(tmp_path) as proxy, FakeServer(crm, accounts=accounts) as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with RefreshTokenAuth(
            client_id=accounts.client_id, client_secret=accounts.client_secret,
            refresh_token=accounts.refresh_token, accounts_url=server.url,
        ) as auth, LockingClient(auth=auth) as client:  # fmt: skip
            report = await client.lock_many("Deals", crm.record_ids("Deals"), reason="r")
            assert report.succeeded == 5
    assert len(token_requests(proxy)) == len(accounts.requests) == 1
    assert len(crm_requests(proxy)) == len(crm.requests) == 5


async def test_no_proxy_bypasses_the_proxy(
    crm: FakeCRM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = crm.mint_token(3600)
    async with start_proxy(tmp_path) as proxy, FakeServer(crm) as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with LockingClient(access_token=token, api_domain=server.url) as client:
            assert await client.get_locks("Deals", crm.record_ids("Deals")[0]) == []
    assert proxy.seen() == [] and len(crm.requests) == 1


async def test_a_proxy_demanding_credentials_gets_them_from_the_url(
    crm: FakeCRM, tmp_path: Path
) -> None:
    token = crm.mint_token(3600)
    async with start_proxy(tmp_path, auth=f"ops:{PASSWORD}") as proxy, FakeServer(crm) as server:
        via = proxy.with_credentials("ops", PASSWORD)
        async with LockingClient(access_token=token, api_domain=server.url, proxy=via) as client:
            result = await client.lock("Deals", crm.record_ids("Deals")[0], reason="r")
    assert result.http_status == 201
    assert [status for _, _, status in proxy.seen()] == [201]


async def test_a_wrong_proxy_password_fails_once_clearly_and_stops_a_run(
    crm: FakeCRM, tmp_path: Path
) -> None:
    token = crm.mint_token(3600)
    ids = crm.record_ids("Deals")
    async with start_proxy(tmp_path, auth=f"ops:{PASSWORD}") as proxy, FakeServer(crm) as server:
        via = proxy.with_credentials("ops", "wrong-" + PASSWORD)
        async with LockingClient(
            access_token=token, api_domain=server.url, proxy=via, max_concurrency=2
        ) as client:  # fmt: skip
            with pytest.raises(ProxyError) as caught:
                await client.get_locks("Deals", ids[0])
            assert len(proxy.seen()) == 1  # a refusal is not retried
            report = await client.lock_many("Deals", ids, reason="r")
    error = caught.value
    assert (error.code, error.retryable, error.maybe_sent) == ("PROXY_ERROR", False, False)
    assert "demands authentication (HTTP 407)" in str(error)
    assert proxy.url.removeprefix("http://") in str(error) and PASSWORD not in str(error)
    assert report.stopped is not None and report.stopped.code == "PROXY_ERROR"
    assert PASSWORD not in report.to_json() and crm.requests == []
    assert len(proxy.seen()) <= 1 + 2  # at most one refusal per worker


async def test_an_unreachable_proxy_is_retried_then_named(crm: FakeCRM) -> None:
    via = f"http://ops:{PASSWORD}@127.0.0.1:1"
    async with FakeServer(crm) as server, LockingClient(
        access_token=crm.mint_token(3600), api_domain=server.url, proxy=via, retry=QUICK
    ) as client:  # fmt: skip
        with pytest.raises(ProxyError) as caught:
            await client.get_locks("Deals", crm.record_ids("Deals")[0])
    assert caught.value.retryable and "could not reach the proxy http://***@127.0.0.1:1" in str(
        caught.value
    )
    assert PASSWORD not in str(caught.value)


async def test_the_token_request_through_a_refusing_proxy_is_an_oauth_error(
    crm: FakeCRM, tmp_path: Path
) -> None:
    accounts = FakeAccounts()
    async with start_proxy(tmp_path, auth=f"ops:{PASSWORD}") as proxy, FakeServer(
        crm, accounts=accounts
    ) as server, RefreshTokenAuth(
        client_id=accounts.client_id, client_secret=accounts.client_secret,
        refresh_token=accounts.refresh_token, accounts_url=server.url,
        proxy=proxy.with_credentials("ops", "nope"),
    ) as auth:  # fmt: skip
        with pytest.raises(OAuthError) as caught:
            await auth.get_token()
    assert (caught.value.code, caught.value.http_status) == ("PROXY_ERROR", 407)
    assert accounts.requests == [] and "nope" not in str(caught.value)


# -- the command line ---------------------------------------------------------------------


async def test_cli_every_crm_and_token_request_goes_through_http_proxy(
    crm: FakeCRM, tmp_path: Path
) -> None:
    accounts = FakeAccounts()
    ids = crm.record_ids("Deals")
    for record_id in ids[:2]:
        crm.manual_lock("Deals", record_id)
    async with start_proxy(tmp_path) as proxy, FakeServer(crm, accounts=accounts) as server:
        # A real process, its proxy in its environment, as on a locked-down batch host.
        result = await run_cli_process(
            "unlock", "--module", "Deals", "-q",
            env=refresh_env(server, HTTP_PROXY=proxy.url),
            stdin="\n".join(ids).encode(),
        )  # fmt: skip
    assert result.code == 0, result.stderr
    assert crm.locks("Deals") == {}
    # A look-up per record, two unlocks, one token: all of them, and only them, proxied.
    assert len(crm.requests) == 7 and len(accounts.requests) == 1
    assert len(crm_requests(proxy)) == 7 and len(token_requests(proxy)) == 1
    assert len(proxy.seen()) == 8


async def test_cli_proxy_flag_with_credentials(crm: FakeCRM, tmp_path: Path) -> None:
    accounts = FakeAccounts()
    report = tmp_path / "report.json"
    async with start_proxy(tmp_path, auth=f"ops:{PASSWORD}") as proxy, FakeServer(
        crm, accounts=accounts
    ) as server:
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "r", "--report", str(report), "-v",
            "--proxy", proxy.with_credentials("ops", PASSWORD),
            env=refresh_env(server), stdin="\n".join(crm.record_ids("Deals")).encode(),
        )  # fmt: skip
    assert result.code == 0, result.stderr
    assert len(crm.locks("Deals")) == 5
    assert len(token_requests(proxy)) == 1 and len(crm_requests(proxy)) == 5
    assert PASSWORD not in result.stdout + result.stderr + report.read_text()


async def test_cli_no_proxy_goes_direct(crm: FakeCRM, tmp_path: Path) -> None:
    async with start_proxy(tmp_path) as proxy, FakeServer(crm) as server:
        result = await run_cli(
            "status", "--module", "Deals", "--api-domain", server.url,
            env=cli_env(ZOHO_ACCESS_TOKEN=crm.mint_token(3600), HTTP_PROXY=proxy.url,
                        NO_PROXY="localhost,127.0.0.1"),
            stdin="\n".join(crm.record_ids("Deals")).encode(),
        )  # fmt: skip
    assert result.code == 0, result.stderr
    assert proxy.seen() == [] and len(crm.requests) == 5


async def test_cli_wrong_proxy_password_is_one_line_exit_2_before_anything(
    crm: FakeCRM, tmp_path: Path
) -> None:
    accounts = FakeAccounts()
    async with start_proxy(tmp_path, auth=f"ops:{PASSWORD}") as proxy, FakeServer(
        crm, accounts=accounts
    ) as server:
        wrong = f"wrong-{PASSWORD}"
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "r",
            "--proxy", proxy.with_credentials("ops", wrong),
            env=refresh_env(server), stdin="\n".join(crm.record_ids("Deals")).encode(),
        )  # fmt: skip
    assert result.code == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "PROXY_ERROR" in line and "demands authentication (HTTP 407)" in line
    assert wrong not in result.stdout + result.stderr
    assert accounts.requests == [] and crm.requests == []
    assert token_requests(proxy) == [("POST", f"{server.url}/oauth/v2/token", 407)]


async def test_cli_proxy_refusing_mid_run_stops_it_exit_3(crm: FakeCRM, tmp_path: Path) -> None:
    journal = tmp_path / "run.jsonl"
    async with start_proxy(tmp_path, auth=f"ops:{PASSWORD}") as proxy, FakeServer(crm) as server:
        wrong = f"wrong-{PASSWORD}"
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "r", "--api-domain", server.url,
            "--journal", str(journal), "--proxy", proxy.with_credentials("ops", wrong),
            env=cli_env(ZOHO_ACCESS_TOKEN=crm.mint_token(3600)),
            stdin="\n".join(crm.record_ids("Deals")).encode(),
        )  # fmt: skip
        assert result.code == 3, result.stderr
        assert "run stopped: PROXY_ERROR" in result.stderr and "--resume" in result.stderr
        assert wrong not in result.stdout + result.stderr + journal.read_text()
        assert crm.requests == [] and crm_requests(proxy)  # refused by the proxy, not the CRM
        # Nothing lost: with the right password, the same journal finishes the run.
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "r", "--api-domain", server.url,
            "--journal", str(journal), "--resume",
            "--proxy", proxy.with_credentials("ops", PASSWORD),
            env=cli_env(ZOHO_ACCESS_TOKEN=crm.mint_token(3600)),
            stdin="\n".join(crm.record_ids("Deals")).encode(),
        )  # fmt: skip
    assert result.code == 0, result.stderr
    assert len(crm.locks("Deals")) == 5 and len(crm.requests) == 5


async def test_cli_unreachable_proxy_is_one_line_exit_2(crm: FakeCRM) -> None:
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts) as server:
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "r",
            "--proxy", f"http://ops:{PASSWORD}@127.0.0.1:1",
            env=refresh_env(server), stdin="\n".join(crm.record_ids("Deals")).encode(),
        )  # fmt: skip
    assert result.code == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "PROXY_ERROR" in line and "could not reach the proxy http://***@127.0.0.1:1" in line
    assert PASSWORD not in result.stderr and accounts.requests == []


def test_cli_config_never_shows_the_proxy_password() -> None:
    from zoho_locking.cli.config import CommandConfig
    from zoho_locking.cli.parser import build_parser

    args = build_parser().parse_args(
        ["status", "--module", "Deals", "--proxy", f"http://ops:{PASSWORD}@proxy.corp:3128"]
    )
    config = CommandConfig.from_args(args, {"HTTPS_PROXY": f"http://x:{PASSWORD}@other:1"})
    assert PASSWORD not in repr(config) and "http://***@proxy.corp:3128" in repr(config)
    route = config.proxies.route("https://www.zohoapis.eu/crm/v8/Deals")
    assert route is not None and route.url == "http://proxy.corp:3128"


@pytest.mark.parametrize("flag", [f"socks5://ops:{PASSWORD}@proxy:1080", f"http://ops:{PASSWORD}@"])
async def test_cli_bad_proxy_url_is_a_usage_error_that_does_not_echo_it(flag: str) -> None:
    result = await run_cli(
        "status", "--module", "Deals", "--api-domain", "http://127.0.0.1:9", "--proxy", flag,
        stdin=b"5843104000001000001\n",
    )  # fmt: skip
    assert result.code == 2
    assert "--proxy is not a usable proxy URL" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


async def test_cli_bad_proxy_variable_is_named_not_shown() -> None:
    result = await run_cli(
        "status", "--module", "Deals", "--api-domain", "http://127.0.0.1:9",
        env=cli_env(ZOHO_ACCESS_TOKEN=TOKEN, HTTPS_PROXY=f"ftp://ops:{PASSWORD}@proxy"),
        stdin=b"5843104000001000001\n",
    )  # fmt: skip
    assert result.code == 2 and "HTTPS_PROXY is not a usable proxy URL" in result.stderr
    assert PASSWORD not in result.stderr
