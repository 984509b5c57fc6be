"""Environments: production, sandbox and developer API domains of every data centre.

The table is written out from the facts sheet (Zoho's Python SDK's
``dc/*_data_center.py``), not derived from the code's own table.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping

import pytest
from aiohttp import web
from helpers import TOKEN, cli_env, run_cli

from zoho_locking import LockingClient, MockTransport, RefreshTokenAuth, Response, ValidationError
from zoho_locking.cli.config import CommandConfig, UsageError
from zoho_locking.cli.parser import build_parser
from zoho_locking.wire.datacentres import DATA_CENTRES, data_centre, in_environment
from zoho_locking.wire.protocol import Request

API_DOMAINS = {
    ("us", "production"): "https://www.zohoapis.com",
    ("us", "sandbox"): "https://sandbox.zohoapis.com",
    ("us", "developer"): "https://developer.zohoapis.com",
    ("eu", "production"): "https://www.zohoapis.eu",
    ("eu", "sandbox"): "https://sandbox.zohoapis.eu",
    ("eu", "developer"): "https://developer.zohoapis.eu",
    ("in", "production"): "https://www.zohoapis.in",
    ("in", "sandbox"): "https://sandbox.zohoapis.in",
    ("in", "developer"): "https://developer.zohoapis.in",
    ("au", "production"): "https://www.zohoapis.com.au",
    ("au", "sandbox"): "https://sandbox.zohoapis.com.au",
    ("au", "developer"): "https://developer.zohoapis.com.au",
    ("jp", "production"): "https://www.zohoapis.jp",
    ("jp", "sandbox"): "https://sandbox.zohoapis.jp",
    ("jp", "developer"): "https://developer.zohoapis.jp",
    ("ca", "production"): "https://www.zohoapis.ca",
    ("ca", "sandbox"): "https://sandbox.zohoapis.ca",
    ("ca", "developer"): "https://developer.zohoapis.ca",
    ("cn", "production"): "https://www.zohoapis.com.cn",
    ("cn", "sandbox"): "https://sandbox.zohoapis.com.cn",
    ("cn", "developer"): "https://developer.zohoapis.com.cn",
    ("sa", "production"): "https://www.zohoapis.sa",
    ("sa", "sandbox"): "https://sandbox.zohoapis.sa",
    ("sa", "developer"): "https://developer.zohoapis.sa",
}
ACCOUNTS = {
    "us": "https://accounts.zoho.com",
    "eu": "https://accounts.zoho.eu",
    "in": "https://accounts.zoho.in",
    "au": "https://accounts.zoho.com.au",
    "jp": "https://accounts.zoho.jp",
    "ca": "https://accounts.zohocloud.ca",
    "cn": "https://accounts.zoho.com.cn",
    "sa": "https://accounts.zoho.sa",
}
CASES = sorted(API_DOMAINS.items())


def test_the_table_covers_every_data_centre_and_environment() -> None:
    assert len(API_DOMAINS) == 24 and set(DATA_CENTRES) == set(ACCOUNTS)


@pytest.mark.parametrize(("key", "expected"), CASES, ids=[f"{d}-{e}" for (d, e), _ in CASES])
async def test_api_domain_of_every_data_centre_and_environment(
    key: tuple[str, str], expected: str
) -> None:
    dc, environment = key
    assert data_centre(dc).domain(environment) == expected
    async with LockingClient(access_token=TOKEN, dc=dc, environment=environment) as client:
        assert client.api_domain == expected
    # The accounts server stays the data centre's, whatever the environment.
    auth = RefreshTokenAuth(
        client_id="1000.ID", client_secret="secret", refresh_token="1000.rt",
        dc=dc, environment=environment,
    )  # fmt: skip
    assert auth.config.accounts_url == ACCOUNTS[dc] and auth.environment == environment
    args = build_parser().parse_args(
        ["lock", "--module", "Deals", "--reason", "r", "--dc", dc, "--environment", environment]
    )
    config = CommandConfig.from_args(args, {})
    assert config.api_domain == expected
    # Any of a data centre's domains names it: the environment picks the domain.
    for other in ("production", "sandbox", "developer"):
        assert in_environment(API_DOMAINS[(dc, other)], environment) == expected


def test_environment_names_are_case_insensitive_and_default_to_production() -> None:
    assert data_centre("EU").domain(" Sandbox ") == "https://sandbox.zohoapis.eu"
    assert data_centre("eu").domain() == "https://www.zohoapis.eu"
    assert in_environment("https://example.com", "sandbox") is None


@pytest.mark.parametrize("bad", ["staging", "", "prod", None, 3])
def test_a_bad_environment_is_refused_before_anything_is_sent(bad: object) -> None:
    sent: list[Request] = []
    transport = MockTransport(lambda request, _: sent.append(request) or Response(204, {}, b""))
    with pytest.raises(ValidationError) as caught:
        LockingClient(access_token=TOKEN, dc="us", environment=bad, transport=transport)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError) and caught.value.field == "environment"
    assert "production, sandbox, developer" in str(caught.value)
    with pytest.raises(ValidationError):
        RefreshTokenAuth(
            client_id="1000.ID", client_secret="s", refresh_token="1000.rt", dc="us",
            environment=bad,  # type: ignore[arg-type]
        )  # fmt: skip
    assert sent == []


def test_a_sandbox_with_an_explicit_api_domain_is_refused() -> None:
    with pytest.raises(ValidationError, match="pass it with dc"):
        LockingClient(
            access_token=TOKEN, api_domain="https://www.zohoapis.com", environment="sandbox"
        )
    # Production is the default meaning of an explicit domain: accepted.
    client = LockingClient(
        access_token=TOKEN, api_domain="https://sandbox.zohoapis.com", environment="production"
    )
    assert client.api_domain == "https://sandbox.zohoapis.com"


@pytest.mark.parametrize(
    ("argv", "env", "text"),
    [
        (["--dc", "us", "--environment", "staging"], {}, "--environment must be production"),
        (["--dc", "us"], {"ZOHO_ENVIRONMENT": "qa"}, "ZOHO_ENVIRONMENT must be production"),
        (
            ["--api-domain", "https://www.zohoapis.com", "--environment", "sandbox"], {},
            "give --dc",
        ),
    ],
)  # fmt: skip
async def test_cli_bad_environment_is_one_line_exit_2(
    argv: list[str], env: dict[str, str], text: str
) -> None:
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", *argv,
        env=cli_env(ZOHO_ACCESS_TOKEN=TOKEN, **env), stdin=b"5843104000001068086\n",
    )  # fmt: skip
    assert result.code == 2
    (line,) = result.stderr.strip().splitlines()
    assert text in line and result.stdout == ""


def test_cli_environment_from_the_environment_variable() -> None:
    args = build_parser().parse_args(["status", "--module", "Deals", "--dc", "jp"])
    config = CommandConfig.from_args(args, {"ZOHO_ENVIRONMENT": "developer"})
    assert config.api_domain == "https://developer.zohoapis.jp"
    assert config.credentials.environment == "developer"
    # The flag beats the variable.
    args = build_parser().parse_args(
        ["status", "--module", "Deals", "--dc", "jp", "--environment", "sandbox"]
    )
    config = CommandConfig.from_args(args, {"ZOHO_ENVIRONMENT": "developer"})
    assert config.api_domain == "https://sandbox.zohoapis.jp"


def test_cli_sandbox_has_its_own_learned_limit_key() -> None:
    args = build_parser().parse_args(["status", "--module", "Deals"])
    production = CommandConfig.from_args(args, {"ZOHO_DC": "eu"})
    sandbox = CommandConfig.from_args(args, {"ZOHO_DC": "eu", "ZOHO_ENVIRONMENT": "sandbox"})
    assert production.org != sandbox.org
    with pytest.raises(UsageError):
        CommandConfig.from_args(args, {"ZOHO_ENVIRONMENT": "Nope"})


async def test_cli_dry_run_names_the_api_domain() -> None:
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", "--dc", "au", "--environment", "sandbox",
        "--dry-run", env=cli_env(), stdin=b"5843104000001068086\n",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "API domain: https://sandbox.zohoapis.com.au (environment sandbox)" in result.stdout
    assert "POST https://sandbox.zohoapis.com.au/crm/v8/Deals/" in result.stdout
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", "--dry-run",
        env=cli_env(ZOHO_ACCOUNTS_URL="https://accounts.zoho.com"), stdin=b"5843104000001068086\n",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "API domain: the one the accounts server names with the first token" in result.stdout


# -- the token answer's api_domain and the environment ----------------------------------


@pytest.fixture
async def accounts_naming() -> AsyncIterator[object]:
    """An accounts server on loopback whose token answers name a chosen API domain."""
    named = {"api_domain": "https://www.zohoapis.eu"}
    app = web.Application()

    async def token(_: web.Request) -> web.Response:
        body = {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer", **named}
        return web.json_response(body)

    app.router.add_post("/oauth/v2/token", token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    class Accounts:
        url = f"http://127.0.0.1:{port}"
        answer = named

    yield Accounts
    await runner.cleanup()


def provider(accounts_url: str, **kwargs: str) -> RefreshTokenAuth:
    return RefreshTokenAuth(
        client_id="1000.ID", client_secret="secret", refresh_token="1000.rt",
        accounts_url=accounts_url, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


async def sent_to(client: LockingClient, urls: list[str]) -> str:
    await client.get_locks("Deals", "5843104000001068086")
    return urls[-1]


def recording(urls: list[str]) -> MockTransport:
    def handler(request: Request, _: Mapping[str, str]) -> Response:
        urls.append(request.url)
        return Response(204, {}, b"")

    return MockTransport(handler)


async def test_production_trusts_the_token_answers_api_domain(accounts_naming: object) -> None:
    urls: list[str] = []
    async with LockingClient(
        auth=provider(accounts_naming.url), transport=recording(urls)  # type: ignore[attr-defined]
    ) as client:  # fmt: skip
        assert (await sent_to(client, urls)).startswith("https://www.zohoapis.eu/crm/v8/")
        assert client.api_domain == "https://www.zohoapis.eu"


@pytest.mark.parametrize("where", ["provider", "client", "both"])
async def test_an_explicit_sandbox_wins_over_the_production_domain_the_answer_names(
    accounts_naming: object, where: str
) -> None:
    # Zoho's accounts server is the same for all three environments and names the
    # production domain: it says which data centre; the environment picks the domain.
    urls: list[str] = []
    auth = provider(
        accounts_naming.url,  # type: ignore[attr-defined]
        **({"environment": "sandbox"} if where != "client" else {}),
    )
    extra = {"environment": "sandbox"} if where != "provider" else {}
    async with LockingClient(auth=auth, transport=recording(urls), **extra) as client:  # type: ignore[arg-type]
        assert (await sent_to(client, urls)).startswith("https://sandbox.zohoapis.eu/crm/v8/")
        assert client.api_domain == "https://sandbox.zohoapis.eu"


async def test_dc_and_environment_on_the_client_win_over_the_answer(
    accounts_naming: object,
) -> None:
    urls: list[str] = []
    async with LockingClient(
        auth=provider(accounts_naming.url), dc="us", environment="developer",  # type: ignore[attr-defined]
        transport=recording(urls),
    ) as client:  # fmt: skip
        assert client.api_domain == "https://developer.zohoapis.com"
        assert (await sent_to(client, urls)).startswith("https://developer.zohoapis.com/crm/")


def test_client_and_provider_asking_different_environments_is_refused() -> None:
    auth = provider("https://accounts.zoho.com", environment="developer")
    with pytest.raises(ValidationError, match="give one"):
        LockingClient(auth=auth, environment="sandbox")


async def test_a_sandbox_of_an_unknown_domain_is_refused_clearly(
    accounts_naming: object, caplog: pytest.LogCaptureFixture
) -> None:
    accounts_naming.answer["api_domain"] = "https://crm.example.net"  # type: ignore[attr-defined]
    urls: list[str] = []
    async with LockingClient(
        auth=provider(accounts_naming.url), environment="sandbox", transport=recording(urls)  # type: ignore[attr-defined]
    ) as client:  # fmt: skip
        with pytest.raises(ValidationError, match="no Zoho data centre's") as caught:
            await client.get_locks("Deals", "5843104000001068086")
    assert caught.value.field == "environment" and urls == []
    # The provider alone says so in a warning, and names no domain.
    auth = provider(accounts_naming.url, environment="sandbox")  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="zoho_locking"):
        await auth.get_token()
        assert auth.api_domain is None and auth.api_domain is None
    await auth.aclose()
    assert len([r for r in caplog.records if "no Zoho data centre" in r.getMessage()]) == 1


async def test_cli_sandbox_with_a_refresh_token_sends_to_the_sandbox(
    accounts_naming: object,
) -> None:
    # What the command line builds from its flags and variables: no domain of its
    # own (no --dc), and a provider that maps the answer's into the sandbox.
    from zoho_locking.cli import wiring

    args = build_parser().parse_args(["status", "--module", "Deals", "--environment", "sandbox"])
    config = CommandConfig.from_args(
        args,
        {
            "ZOHO_CLIENT_ID": "1000.ID", "ZOHO_CLIENT_SECRET": "secret",
            "ZOHO_REFRESH_TOKEN": "1000.rt", "ZOHO_ACCOUNTS_URL": accounts_naming.url,  # type: ignore[attr-defined]
        },
    )  # fmt: skip
    auth = wiring.token_provider(config)
    assert isinstance(auth, RefreshTokenAuth) and auth.environment == "sandbox"
    await auth.get_token()
    assert auth.api_domain == "https://sandbox.zohoapis.eu"
    await auth.aclose()
    assert config.api_domain is None
