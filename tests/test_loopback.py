"""The ``--browser`` flow's loopback catcher, in process: the redirect it waits for.

`catch_code` listens on 127.0.0.1, has the consent page opened, and takes the
code the browser brings back only with the state it made. The "browser" here is
a plain HTTP GET run in `open_browser`'s thread (the console-script tests in
``test_cli_auth.py`` drive a real ``BROWSER`` program through the whole flow).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from zoho_locking.cli.loopback import ConsentError, catch_code, check_redirect_uri, consent_url
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer


def get(url: str) -> tuple[int, str]:
    """GET *url* as a browser would, without following redirects: (status, Location)."""

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    try:
        with urllib.request.build_opener(Stay).open(url, timeout=10) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers.get("Location", "")


def follow(rewrite: Callable[[str], str] = lambda location: location) -> Callable[[str], bool]:
    """A browser that consents at once: GET the consent page, then its redirect (rewritten)."""

    def open_browser(url: str) -> bool:
        status, location = get(url)
        assert status == 302, status
        get(rewrite(location))
        return True

    return open_browser


async def test_the_code_comes_back_with_the_state_and_is_exchanged_with_its_uri() -> None:
    crm, accounts = FakeCRM(default_token=False), FakeAccounts()
    said: list[str] = []
    async with FakeServer(crm, accounts=accounts) as server:

        def consent(uri: str, state: str) -> str:
            return consent_url(
                server.url, client_id=accounts.client_id, scopes="ZohoCRM.modules.ALL",
                redirect_uri=uri, state=state,
            )  # fmt: skip

        caught = await catch_code(
            "http://127.0.0.1:0/callback", consent=consent, open_browser=follow(),
            say=said.append, wait=10,
        )  # fmt: skip
    assert caught.code.startswith("1000.")
    # Port 0 became a real one: the code must be exchanged with that very URI.
    port = urlsplit(caught.redirect_uri).port
    assert port and caught.redirect_uri == f"http://127.0.0.1:{port}/callback"
    assert any(server.url + "/oauth/v2/auth?" in line for line in said)


async def test_a_wrong_state_is_refused() -> None:
    def forged(location: str) -> str:
        return location.replace("state=", "state=forged")

    accounts = FakeAccounts()
    async with FakeServer(FakeCRM(), accounts=accounts) as server:
        with pytest.raises(ConsentError, match="wrong state"):
            await catch_code(
                "http://127.0.0.1:0/cb",
                consent=lambda uri, state: consent_url(
                    server.url, client_id=accounts.client_id, scopes="ZohoCRM.modules.ALL",
                    redirect_uri=uri, state=state,
                ),
                open_browser=follow(forged), say=lambda line: None, wait=10,
            )  # fmt: skip


async def test_zohos_refusal_is_one_line_naming_its_error() -> None:
    def refuse(uri: str, state: str) -> str:
        # What Zoho sends back when the user clicks Reject: no code, an error.
        return f"{uri}?{urlencode({'error': 'access_denied', 'state': state})}"

    def browser(url: str) -> bool:
        status, _ = get(url)
        assert status == 400
        return True

    with pytest.raises(ConsentError, match="Zoho gave no code: access_denied"):
        await catch_code(
            "http://127.0.0.1:0/cb", consent=refuse, open_browser=browser,
            say=lambda line: None, wait=10,
        )  # fmt: skip


async def test_other_paths_are_not_found_and_no_answer_times_out() -> None:
    seen: list[int] = []

    def elsewhere(url: str) -> bool:
        uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        seen.append(get(uri.replace("/cb", "/favicon.ico"))[0])
        return False  # as when no browser could be started

    said: list[str] = []
    with pytest.raises(ConsentError, match=r"no consent within 0\.3s"):
        await catch_code(
            "http://127.0.0.1:0/cb",
            consent=lambda uri, state: "http://x/?" + urlencode({"redirect_uri": uri}),
            open_browser=elsewhere, say=said.append, wait=0.3,
        )  # fmt: skip
    assert seen == [404]
    assert "could not open a browser: visit the URL above yourself" in said


def test_only_http_on_loopback_is_a_redirect_uri() -> None:
    assert check_redirect_uri("http://127.0.0.1:8765/callback")
    for uri in ("https://example.com/cb", "http://10.0.0.1:8765/cb", "ftp://127.0.0.1/cb"):
        with pytest.raises(ConsentError, match=r"127\.0\.0\.1"):
            check_redirect_uri(uri)
