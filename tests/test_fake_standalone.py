"""``zoho-locking fake-server``: the CRM and Zoho's OAuth token endpoint on one port.

One real process, driven as a user would: read the credentials it prints,
mint tokens from its refresh token with any OAuth client (raw HTTP, then our
own `RefreshTokenAuth`), and stop it with Ctrl-C.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from helpers import cli_env

from zoho_locking import LockingClient, RefreshTokenAuth
from zoho_locking.testing import FakeAccounts, FakeCRM
from zoho_locking.testing.__main__ import build_parser, build_spec

LINE = re.compile(r"^([A-Za-z_ ]+):\s+(\S+)", re.M)


@pytest_asyncio.fixture
async def standalone() -> AsyncIterator[dict[str, str]]:
    """Run ``fake-server`` with short-lived tokens; yield what it printed, by label."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoho_locking", "fake-server", "--records", "Deals=3",
        "--token-life", "120",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env(),
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Ctrl-C"):
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line, "fake-server exited early"
        lines.append(line.decode())
    printed = {label: value for label, value in LINE.findall("".join(lines))}
    printed["text"] = "".join(lines)
    try:
        yield printed
    finally:
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, err.decode()
        assert "Traceback" not in err.decode()


async def test_it_serves_fake_credentials_to_any_oauth_client(
    standalone: dict[str, str],
) -> None:
    # One process for both clients: starting one costs more than the rest of the test.
    await raw_http_client(standalone)
    await our_own_client(standalone)


async def raw_http_client(standalone: dict[str, str]) -> None:
    """Mint tokens by hand, as any OAuth library would."""
    url = standalone["api_domain"]
    assert standalone["accounts URL"] == url
    assert "FAKE" in standalone["text"]  # the user is told these open nothing real
    assert standalone["client id"] == FakeAccounts.CLIENT_ID
    assert standalone["client secret"] == FakeAccounts.CLIENT_SECRET
    assert standalone["refresh token"] == FakeAccounts.REFRESH_TOKEN
    assert f"token endpoint: {url}/oauth/v2/token" in standalone["text"]
    form = {
        "grant_type": "refresh_token",
        "client_id": standalone["client id"],
        "client_secret": standalone["client secret"],
        "refresh_token": standalone["refresh token"],
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/oauth/v2/token", data=form) as resp:
            assert resp.status == 200
            minted = await resp.json()
        assert set(minted) == {"access_token", "api_domain", "token_type", "expires_in"}
        assert (minted["api_domain"], minted["expires_in"]) == (url, 120)
        # Zoho's failures come with HTTP 200 and an "error" key.
        for field, value, expected in (
            ("client_secret", "wrong", "invalid_client_secret"),
            ("refresh_token", "1000.unknown.token", "invalid_code"),
            ("client_id", "1000.OTHER", "invalid_client"),
        ):
            async with session.post(f"{url}/oauth/v2/token", data={**form, field: value}) as resp:
                assert (resp.status, await resp.json()) == (200, {"error": expected})
        # The grant code it prints trades once for a refresh token, as a Self Client's does.
        grant = {
            "grant_type": "authorization_code", "client_id": form["client_id"],
            "client_secret": form["client_secret"], "code": standalone["grant code"],
        }  # fmt: skip
        async with session.post(f"{url}/oauth/v2/token", data=grant) as resp:
            granted = await resp.json()
        assert granted["refresh_token"] and "ZohoCRM.modules.ALL" in granted["scope"]
        async with session.post(f"{url}/oauth/v2/token", data=grant) as resp:
            assert (resp.status, await resp.json()) == (200, {"error": "invalid_code"})
        for token in (minted["access_token"], standalone["access token"]):
            headers = {"Authorization": f"Zoho-oauthtoken {token}"}
            async with session.get(f"{url}/crm/v8/org", headers=headers) as resp:
                assert resp.status == 200
        headers = {"Authorization": f"Zoho-oauthtoken {FakeCRM.DEFAULT_TOKEN}"}
        async with session.get(f"{url}/crm/v8/org", headers=headers) as resp:
            assert resp.status == 401  # with --token-life, no token lives forever


async def our_own_client(standalone: dict[str, str]) -> None:
    """`RefreshTokenAuth` with only what the server printed."""
    url = standalone["api_domain"]
    deal = re.search(r"/Deals/([0-9]+)/", standalone["text"])
    assert deal is not None
    auth = RefreshTokenAuth(
        client_id=standalone["client id"],
        client_secret=standalone["client secret"],
        refresh_token=standalone["refresh token"],
        accounts_url=url,
    )
    async with auth, LockingClient(auth=auth) as client:  # API domain from the token answer
        lock = await client.lock("Deals", deal.group(1), reason="from a refresh token")
        (found,) = await client.get_locks("Deals", deal.group(1))
        await client.unlock("Deals", deal.group(1), lock.id)
    assert found.id == lock.id and found.locked_reason == "from a refresh token"


def test_the_command_line_describes_the_whole_fake() -> None:
    args = build_parser().parse_args([
        "--records", "Deals=3", "Leads=2", "Deals=1", "--latency", "0.5",
        "--concurrency-limit", "7", "--credits", "9", "--token-life", "60", "--seed", "4",
    ])  # fmt: skip
    spec = build_spec(args)
    assert spec.records == {"Deals": 4, "Leads": 2} and spec.oauth
    assert (spec.latency, spec.concurrency_limit, spec.credits) == (0.5, 7, 9)
    assert spec.token_life == 60 and spec.faults is not None and spec.faults.seed == 4
    zoho = spec.build()
    assert zoho.accounts is not None and zoho.accounts.token_life == 60
    assert zoho.server.concurrency_limit == 7 and zoho.crm.credits is not None
    assert zoho.crm.requests == [] and not zoho.crm.record_requests
    default = build_spec(build_parser().parse_args([])).build()
    assert default.access_token == FakeCRM.DEFAULT_TOKEN
    assert default.accounts is not None and default.accounts.token_life == 3600
    with pytest.raises(ValueError, match="no module"):
        build_spec(build_parser().parse_args(["--records", "Nope=1"])).build()
