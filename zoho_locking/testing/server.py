"""Put a `FakeCRM` on loopback with aiohttp.web, with latency and a concurrency limit.

The adapter only moves bytes: every decision about an answer is the CRM's,
except the 429 that the org's concurrency limit produces, which never reaches
the CRM (Zoho refuses such requests before doing any work).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from ._wire import FakeAnswer, canned
from .accounts import AUTH_PATH, TOKEN_PATH, FakeAccounts
from .credits import stamped
from .fakecrm import FakeCRM

__all__ = ["FakeServer", "serve_forever"]


class FakeServer:
    """An aiohttp server answering with a `FakeCRM`; use it as an async context manager.

    ``latency`` (seconds) and ``concurrency_limit`` (requests in flight; ``None``:
    no limit) may be changed while it runs. A request counts as in flight from
    its arrival to its answer, latency included. ``apply_after`` (0 to 1) is the
    part of the latency spent after the org has applied the request: at 0.5, a
    lock is in place half way through, and a client that gives up then has
    locked the record without knowing it, as over a real network.

    With *accounts* (a `FakeAccounts`), the server also answers the OAuth
    token endpoint ``POST /oauth/v2/token`` and the consent page
    ``GET /oauth/v2/auth``, so ``url`` serves as the accounts URL too.
    Token requests have their own latency and are not counted in
    ``arrivals`` or the concurrency limit: at Zoho they go to another server.

    With *ssl_context* (a server-side `ssl.SSLContext` holding a certificate
    and its key), it serves HTTPS and ``url`` starts with ``https://``: for
    testing TLS settings (the tests issue its certificate with ``trustme``).

    Args:
        crm: The org to answer with (default: a new `FakeCRM`).
        host: The address to listen on (loopback by default).
        port: The TCP port (0: any free one; `port` says which once started).
        latency: Seconds each CRM answer is held back.
        concurrency_limit: Requests in flight before 429; ``None``: no limit.
        shutdown_timeout: Seconds `close` waits for requests in flight.
        accounts: A token endpoint to serve too.
        ssl_context: A server-side context to serve HTTPS with.
        apply_after: The part (0 to 1) of a write's latency spent after it is applied.

    Raises:
        ValueError: *apply_after* is not between 0 and 1.
    """

    def __init__(
        self,
        crm: FakeCRM | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        apply_after: float = 0.0,
        concurrency_limit: int | None = None,
        shutdown_timeout: float = 1.0,
        accounts: FakeAccounts | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.crm = crm if crm is not None else FakeCRM()
        self.ssl_context = ssl_context
        self.accounts = accounts
        self.host = host
        if not 0.0 <= apply_after <= 1.0:
            raise ValueError(f"apply_after must be between 0 and 1, got {apply_after!r}")
        self.latency = latency
        self.apply_after = apply_after
        self.concurrency_limit = concurrency_limit
        #: Requests being handled right now.
        self.in_flight = 0
        #: The most requests ever in flight at once (429s not included).
        self.peak_in_flight = 0
        #: Requests refused with 429 because of the concurrency limit.
        self.too_many_requests = 0
        #: ``loop.time()`` of every request's arrival, refused ones included.
        self.arrivals: list[float] = []
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        # Set by close() so that requests sleeping out their latency give up at once.
        self._closing = asyncio.Event()
        self._closing_waiter: asyncio.Future[Any] | None = None

    @property
    def port(self) -> int:
        """The TCP port; known once the server has started."""
        return self._port

    @property
    def url(self) -> str:
        """The API domain to give a client, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self._port}"

    async def start(self) -> None:
        """Start listening (`__aenter__` does this).

        Raises:
            RuntimeError: The server is already running.
        """
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=self._shutdown_timeout
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._port, ssl_context=self.ssl_context)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self._port = int(address[1])

    async def close(self) -> None:
        """Stop listening and close every connection (`__aexit__` does this)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self._closing.set()
            await runner.cleanup()
        waiter, self._closing_waiter = self._closing_waiter, None
        if waiter is not None:
            await waiter  # done already: the event is set

    async def __aenter__(self) -> FakeServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def max_in_window(self, seconds: float = 1.0) -> int:
        """Return the most arrivals seen within any window of *seconds*.

        Args:
            seconds: The window's length, on the event loop's clock.

        Returns:
            The most requests that arrived within one such window (429s included).
        """
        best = start = 0
        times = self.arrivals
        for end, moment in enumerate(times):
            while moment - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.accounts is not None and request.path in (TOKEN_PATH, AUTH_PATH):
            return await self._handle_accounts(self.accounts, request)
        loop = asyncio.get_running_loop()
        arrival = loop.time()
        self.arrivals.append(arrival)
        limit = self.concurrency_limit
        if limit is not None and self.in_flight >= limit:
            self.too_many_requests += 1
            return _response(stamped(self.crm.credits, canned("too_many")))
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            body = await request.read()
            # Answer `latency` after the arrival, not after reading: what the server
            # spends on its own work is part of the latency, as with a real org.
            latency, after = self.latency, self.latency * self.apply_after
            await self._pause(arrival + latency - after - loop.time())
            if self._closing.is_set():
                # Shutting down: the org never sees the request, the client sees a drop.
                return _drop(request)
            query = {key: request.query[key] for key in request.query}
            answer = self.crm.handle(request.method, request.path, query, request.headers, body)
            if after > 0:
                # Applied, and the answer still on its way: a client that gives up now
                # (or a server shutting down, which drops it) never learns of it.
                await self._pause(arrival + latency - loop.time())
                if self._closing.is_set():
                    return _drop(request)
        finally:
            self.in_flight -= 1
        return _drop(request) if answer.drop else _response(answer)

    async def _pause(self, seconds: float) -> None:
        """Sleep *seconds*, or less if the server starts closing meanwhile."""
        if seconds <= 0:
            return
        if self._closing_waiter is None or self._closing_waiter.done():
            self._closing_waiter = asyncio.ensure_future(self._closing.wait())
        # asyncio.wait on one shared waiter: no new task per request, as wait_for makes.
        await asyncio.wait((self._closing_waiter,), timeout=seconds)

    async def _handle_accounts(
        self, accounts: FakeAccounts, request: web.Request
    ) -> web.StreamResponse:
        body = await request.read()
        await self._pause(accounts.latency)
        if self._closing.is_set():
            return _drop(request)
        query = {key: request.query[key] for key in request.query}
        answer = accounts.handle(
            self.crm, request.method, query, body, api_domain=self.url, path=request.path
        )
        return _response(answer)


def _drop(request: web.Request) -> web.Response:
    """Close the connection with nothing written; what to return to aiohttp meanwhile."""
    # Abort the socket and hand aiohttp a response anyway: writing it fails
    # with ConnectionResetError, which aiohttp takes for a client disconnect
    # (a debug log line only). Raising instead would log a traceback.
    if request.transport is not None:
        request.transport.abort()
    return web.Response()


def _response(answer: FakeAnswer) -> web.Response:
    return web.Response(status=answer.status, headers=answer.headers, body=answer.body)


async def serve_forever(
    server: FakeServer, *, on_ready: Callable[[FakeServer], None] | None = None
) -> None:
    """Run *server* until cancelled (Ctrl-C under `asyncio.run`), then shut it down."""
    async with server:
        if on_ready is not None:
            on_ready(server)
        await asyncio.Event().wait()
