"""Catching a grant code on 127.0.0.1, as ``gh auth login`` does: ``zoho-locking auth --browser``.

A server-based client whose redirect URI is a loopback address can be given
its grant code by the browser itself: the user consents on Zoho's page, Zoho
redirects the browser to ``redirect_uri?code=...&state=...``, and a one-shot
server listening there takes the code. The random ``state`` sent to Zoho must
come back unchanged; a redirect carrying another is refused, since it may be
another page passing its own code. No code is ever printed.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs
from aiohttp import web

from ..wire.datacentres import is_loopback

__all__ = ["Caught", "ConsentError", "catch_code", "check_redirect_uri", "consent_url"]

_DONE_PAGE = (
    "<!doctype html><title>zoho-locking</title>"
    "<p>zoho-locking has the grant code. You may close this window.</p>"
)


class ConsentError(Exception):
    """The browser flow gave no code: refused, a wrong state, or no answer in time."""


@attrs.frozen(slots=True)
class Caught:
    """The grant code the browser brought, and the redirect URI it came to."""

    code: str = attrs.field(repr=False)
    redirect_uri: str


def check_redirect_uri(uri: str) -> str:
    """Return *uri* if it is ``http://`` on a loopback host, else raise `ConsentError`."""
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "http" or not parts.hostname or not is_loopback(parts.hostname):
        raise ConsentError(
            f"--redirect-uri must be http:// on 127.0.0.1 (or localhost), got {uri!r}"
        )
    if port is None or port < 0 or parts.query or parts.fragment:
        raise ConsentError(
            f"--redirect-uri must name a port and no query, e.g. http://127.0.0.1:8765/callback, "
            f"got {uri!r}"
        )
    return uri


def consent_url(
    accounts_url: str, *, client_id: str, scopes: str, redirect_uri: str, state: str
) -> str:
    """Zoho's consent page for *scopes*, sending the code to *redirect_uri* with *state*."""
    query = urlencode(
        {
            "scope": scopes,
            "client_id": client_id,
            "response_type": "code",
            "access_type": "offline",
            # Without it Zoho gives a refresh token only at a client's first consent.
            "prompt": "consent",
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{accounts_url}/oauth/v2/auth?{query}"


async def catch_code(
    redirect_uri: str,
    *,
    consent: Callable[[str, str], str],
    open_browser: Callable[[str], bool],
    say: Callable[[str], None],
    wait: float,
) -> Caught:
    """Listen on *redirect_uri*, open the consent page, and return the code it brings.

    Args:
        redirect_uri: Where Zoho sends the browser back (port 0: any free one).
        consent: Builds the consent URL from the redirect URI and the state.
        open_browser: Opens a URL in a browser (`webbrowser.open`); run in a thread,
            since a console browser may hold on to the terminal.
        say: Tells the user something (one line, on standard error).
        wait: Seconds to wait for the browser.

    Returns:
        The code and the redirect URI it came to (the one to exchange it with).

    Raises:
        ConsentError: Zoho or the user refused, the state was wrong, or nothing came in time.
    """
    parts = urlsplit(check_redirect_uri(redirect_uri))
    path = parts.path or "/"
    state = secrets.token_urlsafe(24)
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    async def receive(request: web.Request) -> web.StreamResponse:
        if request.path != path:
            return web.Response(status=404, text="not found")
        if answer.done():
            return web.Response(status=410, text="zoho-locking is no longer waiting for a code")
        query = request.query
        if not secrets.compare_digest(query.get("state", ""), state):
            answer.set_exception(
                ConsentError(
                    "the browser came back with a wrong state: refused (the code may "
                    "be another page's); run zoho-locking auth --browser again"
                )
            )
            return web.Response(status=400, text="wrong state: refused")
        if "error" in query:
            error = query["error"][:100]
            answer.set_exception(ConsentError(f"Zoho gave no code: {error}"))
            return web.Response(status=400, text=f"no code: {error}")
        code = query.get("code", "")
        if not code:
            answer.set_exception(ConsentError("the browser came back without a code"))
            return web.Response(status=400, text="no code")
        answer.set_result(code)
        return web.Response(text=_DONE_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, parts.hostname, parts.port)
        try:
            await site.start()
        except OSError as exc:
            raise ConsentError(
                f"cannot listen on {parts.hostname}:{parts.port} for the redirect: "
                f"{exc.strerror or exc}"
            ) from None
        port = int(runner.addresses[0][1])
        netloc = parts.netloc if parts.port else f"{parts.hostname}:{port}"
        uri = urlunsplit(("http", netloc, parts.path, "", ""))
        url = consent(uri, state)
        say(f"opening Zoho's consent page in your browser; if none opens, visit:\n  {url}")
        say(f"waiting up to {wait:g}s for the browser to come back to {uri}")
        opener = asyncio.ensure_future(asyncio.to_thread(open_browser, url))
        opener.add_done_callback(lambda done: _opened(done, say))
        try:
            code = await asyncio.wait_for(asyncio.shield(answer), timeout=wait)
        except TimeoutError:
            raise ConsentError(
                f"no consent within {wait:g}s: the browser never came back to {uri} "
                "(is it the client's redirect URI? --wait for longer)"
            ) from None
    finally:
        await runner.cleanup()
    return Caught(code=code, redirect_uri=uri)


def _opened(done: asyncio.Future[bool], say: Callable[[str], None]) -> None:
    """Tell the user to open the URL themselves when no browser could be started."""
    if done.cancelled():
        return
    error = done.exception()
    if error is not None or not done.result():
        say("could not open a browser: visit the URL above yourself")
