"""The transport's direct path: a request sent through the session's pool with aiohttp's own
request and response classes, without `aiohttp.ClientSession.request` around them.

Sessions from `make_session` (and any that add nothing to a request: no cookies, default
headers, trace hooks or middlewares) take it; every other session goes the session's way.
Either way the server must see the same request, and the caller the same answer.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from helpers import DropsSecond

from zoho_locking import TransportError, make_session
from zoho_locking.http import transport as transport_module
from zoho_locking.http.transport import DIRECT_FITS, AiohttpTransport
from zoho_locking.wire import protocol

AUTH = protocol.authorization("t0ken")
RECORD = "5843104000001000001"


class Seen:
    """A loopback server that remembers each request's line, headers and body, and answers
    201 (a lock), 404 (any path under /missing) or 204; ``cookie`` sets a cookie each time."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.cookie = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.path_qs, dict(request.headers), body))
        if request.path.startswith("/missing"):
            answer = web.Response(status=404)
        elif request.method == "POST":
            answer = web.json_response(
                {"data": [{"code": "SUCCESS", "details": {"id": "1"}, "status": "success",
                           "message": "record added"}]}, status=201,
            )  # fmt: skip
        else:
            answer = web.Response(status=204)
        if self.cookie:
            answer.set_cookie("lb", "node-7")
        return answer


@pytest.fixture
async def seen() -> AsyncIterator[Seen]:
    server = Seen()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()


def lock(url: str) -> protocol.Request:
    return protocol.build_lock(f"{url}/crm/v8", "Deals", RECORD, "quarter close")


def test_this_aiohttp_has_what_the_direct_path_is_built_of() -> None:
    # Fails when an aiohttp release changes a piece: the transport then goes the
    # session's way for every request (correct, ~20 us slower), and this says why.
    assert DIRECT_FITS


async def test_a_session_from_make_session_sends_straight_through_its_pool(
    seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the request went through ClientSession._request")

    transport = AiohttpTransport()
    try:
        session = transport.get_session()
        assert transport._direct_loop(session) is asyncio.get_running_loop()
        monkeypatch.setattr(aiohttp.ClientSession, "_request", never)
        response = await transport.send(lock(seen.url), AUTH)
        assert response.status == 201
        assert response.parsed(protocol.parse_action).id == "1"
    finally:
        await transport.aclose()
    method, path, headers, body = seen.requests[0]
    assert (method, path) == ("POST", f"/crm/v8/Deals/{RECORD}/Locking_Information__s")
    assert headers["Authorization"] == "Zoho-oauthtoken t0ken"
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body) > 0


async def test_the_server_sees_the_same_request_either_way(seen: Seen) -> None:
    direct = AiohttpTransport(make_session())
    # A session of the caller's with aiohttp's cookie jar: the session's way.
    async with aiohttp.ClientSession() as own:
        by_session = AiohttpTransport(own)
        assert by_session._direct_loop(own) is None
        assert direct._direct_loop(direct.get_session()) is not None
        for transport in (direct, by_session):
            for request in (
                lock(seen.url),
                protocol.build_get_locks(f"{seen.url}/crm/v8", "Deals", RECORD),
                protocol.build_unlock(f"{seen.url}/crm/v8", "Deals", RECORD, "42"),
            ):
                await transport.send(request, AUTH)
        await by_session.aclose()
    session = direct.get_session()
    await direct.aclose()
    await session.close()
    assert len(seen.requests) == 6
    assert seen.requests[:3] == seen.requests[3:]


async def test_nothing_is_resent_when_the_connection_drops(drops_second: DropsSecond) -> None:
    transport = AiohttpTransport()
    try:
        read = protocol.build_get_locks(f"{drops_second.url}/crm/v8", "Deals", RECORD)
        assert (await transport.send(read, AUTH)).status == 204
        with pytest.raises(TransportError) as caught:
            await transport.send(read, AUTH)  # the same connection: dropped unanswered
    finally:
        await transport.aclose()
    assert caught.value.maybe_sent
    assert drops_second.requests == 2  # aiohttp's silent resend would have made it three


async def test_no_cookie_is_kept_or_sent(seen: Seen) -> None:
    seen.cookie = True
    transport = AiohttpTransport()
    try:
        read = protocol.build_get_locks(f"{seen.url}/crm/v8", "Deals", RECORD)
        for _ in range(2):
            await transport.send(read, AUTH)
        assert isinstance(transport.get_session().cookie_jar, aiohttp.DummyCookieJar)
    finally:
        await transport.aclose()
    assert [("Cookie" in headers) for _, _, headers, _ in seen.requests] == [False, False]


def _with_trace(heard: list[str]) -> aiohttp.ClientSession:
    async def started(session: object, context: object, params: Any) -> None:
        heard.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(started)
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trace_configs=[trace])


class _Answer(aiohttp.ClientResponse):
    pass


@pytest.mark.parametrize(
    "adds",
    [
        {"cookie_jar": None},  # aiohttp's own jar
        {"headers": {"X-Team": "crm"}},
        {"skip_auto_headers": ["User-Agent"]},
        {"trust_env": True},
        {"trace_configs": [aiohttp.TraceConfig()]},
        {"version": aiohttp.HttpVersion10},
        {"response_class": _Answer},
    ],
    ids=lambda adds: next(iter(adds)),
)
async def test_a_session_that_adds_to_a_request_goes_the_sessions_way(
    adds: dict[str, Any],
) -> None:
    jar = adds.pop("cookie_jar", aiohttp.DummyCookieJar())
    async with aiohttp.ClientSession(cookie_jar=jar, **adds) as session:
        assert AiohttpTransport(session)._direct_loop(session) is None
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        assert AiohttpTransport(session)._direct_loop(session) is not None


async def test_a_session_with_trace_hooks_goes_the_sessions_way(seen: Seen) -> None:
    heard: list[str] = []
    async with _with_trace(heard) as session:
        transport = AiohttpTransport(session)
        await transport.send(lock(seen.url), AUTH)
        assert transport._direct_loop(session) is None
    assert heard == ["POST"]


async def test_a_sessions_default_headers_still_go_out(seen: Seen) -> None:
    jar = aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(cookie_jar=jar, headers={"X-Team": "crm"}) as session:
        transport = AiohttpTransport(session)
        await transport.send(lock(seen.url), AUTH)
        assert transport._direct_loop(session) is None
    assert seen.requests[0][2]["X-Team"] == "crm"


@pytest.mark.parametrize("direct", [True, False])
async def test_a_session_that_raises_for_status_still_gives_the_answer(
    seen: Seen, direct: bool
) -> None:
    jar = aiohttp.DummyCookieJar() if direct else aiohttp.CookieJar()
    async with aiohttp.ClientSession(cookie_jar=jar, raise_for_status=True) as session:
        transport = AiohttpTransport(session)
        assert (transport._direct_loop(session) is not None) is direct
        request = protocol.build_get_locks(f"{seen.url}/missing", "Deals", RECORD)
        response = await transport.send(request, AUTH)
    assert response.status == 404


async def test_a_closed_session_of_your_own_fails_as_it_always_did() -> None:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    transport = AiohttpTransport(session)
    await session.close()
    with pytest.raises(RuntimeError, match="Session is closed"):
        await transport.send(lock("http://127.0.0.1:9"), AUTH)


async def test_a_new_session_is_judged_afresh(seen: Seen) -> None:
    heard: list[str] = []
    transport = AiohttpTransport(make_session())
    first = transport.get_session()
    await transport.send(lock(seen.url), AUTH)
    assert transport._direct_loop(first) is not None
    async with _with_trace(heard) as traced:
        transport._session = traced  # as if the transport had been handed another session
        await transport.send(lock(seen.url), AUTH)
    await first.close()
    assert heard == ["POST"]


async def test_an_aiohttp_without_the_pieces_goes_the_sessions_way(
    seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = aiohttp.BaseConnector.connect

    async def connect(self: object, req: object) -> None:  # no traces, no timeout
        raise AssertionError("not called")

    assert transport_module._direct_fits()
    monkeypatch.setattr(aiohttp.BaseConnector, "connect", connect)
    assert not transport_module._direct_fits()
    monkeypatch.setattr(aiohttp.BaseConnector, "connect", real)
    monkeypatch.setitem(sys.modules, "aiohttp.client_proto", None)  # a module moved away
    assert not transport_module._direct_fits()
    monkeypatch.undo()
    monkeypatch.setattr(transport_module, "DIRECT_FITS", False)
    transport = AiohttpTransport()
    try:
        assert transport._direct_loop(transport.get_session()) is None
        assert (await transport.send(lock(seen.url), AUTH)).status == 201
    finally:
        await transport.aclose()
