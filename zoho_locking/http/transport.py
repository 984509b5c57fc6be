"""Transports: the one place bytes cross the network.

A transport has one method, ``send``, that takes a `Request` plus the extra
headers (authorization) and returns a `Response`. `AiohttpTransport` is the
real one: a session from `zoho_locking.net.session.make_session` (or the
caller's, guarded the same way), each request routed through the proxy its
`Proxies` name. `MockTransport` answers from a plain function, in process, so
tests and benchmarks can drive the client without sockets (as httpx's does).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Mapping
from ssl import SSLContext
from typing import Protocol, TypeVar

import aiohttp
import aiohttp.payload
import attrs
from yarl import URL

from ..errors import ProxyError, RequestTimeout, TLSError, TransportError, describe
from ..net.proxy import Proxies, as_proxies, proxy_failure
from ..net.session import guard, make_session
from ..net.tls import TLSSetting, tls_context, tls_failure
from ..wire.protocol import Request

__all__ = ["AiohttpTransport", "MockTransport", "Response", "Transport"]

T = TypeVar("T")


class _Due:
    """One request in flight: its task, when it must be over, and whether it was cut."""

    __slots__ = ("at", "cancelling", "cut", "task")

    def __init__(self, task: asyncio.Task[object], at: float) -> None:
        self.task, self.at, self.cut = task, at, False
        #: The task's pending cancellations when the request began (``asyncio.timeout``'s way).
        self.cancelling = task.cancelling()


class RequestTimeouts:
    """The timeout of every request in flight, kept by one timer instead of one each.

    aiohttp's ``total`` timeout schedules a timer for each request and cancels it when
    the answer is in: a heap push, and a cancelled handle the loop sweeps later, about
    5 us of CPU a request (issue 30). Here a request notes when it must be over; one
    timer, set for the earliest such moment, cancels the requests past theirs, as
    ``asyncio.timeout`` would. All requests share one timeout and the loop's clock
    only moves forward, so the order they began in is the order they are due in: the
    oldest request is the next due, and ending a request is one ``dict`` deletion.
    """

    __slots__ = ("_due", "_handle", "_loop", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._due: dict[_Due, None] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def begin(self) -> _Due:
        """Note that the current task sends a request now; the timer cancels it when due."""
        # Asked of the loop known: without one, asyncio looks the loop up, and on
        # Python 3.11 that checks the process id with a system call, every request.
        task = asyncio.current_task(self._loop) if self._loop is not None else None
        if task is None:
            task = asyncio.current_task()
            if task is None:
                raise RuntimeError("a request must be sent from a task")
            if task.get_loop() is not self._loop:
                # A new event loop (the old one's timer died with it): start afresh.
                self._loop, self._handle = task.get_loop(), None
                self._due.clear()
        loop = self._loop
        assert loop is not None
        due = _Due(task, loop.time() + self.seconds)
        self._due[due] = None
        if self._handle is None:
            self._handle = loop.call_at(due.at, self._expire)
        return due

    def end(self, due: _Due) -> None:
        """Note that the request of *due* is over."""
        self._due.pop(due, None)

    def timed_out(self, due: _Due) -> bool:
        """Whether the timer cut the request of *due*, and nothing else cancelled its task.

        The timer's cancellation is taken back (`asyncio.Task.uncancel`), once; a
        cancellation from elsewhere stays, for the caller to re-raise.
        """
        if not due.cut:
            return False
        due.cut = False
        return due.task.uncancel() <= due.cancelling

    def _expire(self) -> None:
        """Cancel every request past due; set the timer for the next one."""
        self._handle = None
        loop, due = self._loop, self._due
        assert loop is not None
        now = loop.time()
        while due:
            first = next(iter(due))
            if first.at > now:
                self._handle = loop.call_at(first.at, self._expire)
                return
            del due[first]
            first.cut = True
            first.task.cancel()

    def close(self) -> None:
        """Cancel the timer (the transport is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._due.clear()


@attrs.frozen(slots=True)
class Response:
    """A complete HTTP answer: status, headers and body bytes."""

    #: The HTTP status.
    status: int
    #: The headers (a case-insensitive mapping from aiohttp).
    headers: Mapping[str, str]
    #: The whole body, as bytes.
    body: bytes

    def parsed(self, parse: Callable[[int, Mapping[str, str], bytes], T]) -> T:
        """The answer read by *parse* (a `zoho_locking.wire.protocol` parser)."""
        return parse(self.status, self.headers, self.body)


class Transport(Protocol):
    """Moves one request to the server and its answer back."""

    async def send(self, request: Request, auth_headers: Mapping[str, str]) -> Response:
        """Send *request* with *auth_headers* added, and read the whole answer.

        Args:
            request: The request, built by the protocol layer.
            auth_headers: The ``Authorization`` header to add (kept out of *request*
                so that nothing else ever holds the token).

        Returns:
            The answer, whatever its status.

        Raises:
            TransportError: No complete answer (or `RequestTimeout`, `ProxyError`).
        """
        ...

    async def aclose(self) -> None:
        """Release what the transport owns."""
        ...


class AiohttpTransport:
    """Send requests with an `aiohttp.ClientSession`, converting its errors at the boundary.

    The transport owns the session it creates (and closes it in `aclose`);
    a session passed in stays the caller's to close, but gets aiohttp's silent
    resend turned off, as `make_session` does (`zoho_locking.net.session.guard`).
    Requests go through the proxies *proxy* names: a URL for every request, a
    `Proxies`, or ``None`` for the environment's (``HTTPS_PROXY``, ...).
    Servers are verified against the CAs *ssl* names (`zoho_locking.net.tls`:
    a bundle's path, an `ssl.SSLContext`, ``"system"``; ``None``: Python's
    defaults), on a session passed in too; a certificate that fails raises `TLSError`.
    A request with no complete answer within *timeout* raises `RequestTimeout`: one
    timer watches every request in flight, not one timer each. On a session that adds
    nothing to a request (`make_session`'s, and its own: no cookies, default headers,
    trace hooks, ...; see `_direct_loop`), requests not sent through a proxy go straight
    to a pooled connection (`_direct`), without `aiohttp.ClientSession.request` around them.

    Args:
        session: A session to send through (default: one made on first use).
        timeout: Seconds for one request, connection to last byte (``None``: none).
        connect_timeout: Seconds to connect (``None``: no cap but *timeout*).
        pool_size: Connections kept open, when the transport makes its session.
        proxy: A proxy URL for every request, a `Proxies`, or ``None``.
        ssl: The CAs to verify servers with: a bundle's path, an `ssl.SSLContext`,
            ``"system"``, or ``None`` for Python's defaults.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float | None = 30.0,
        connect_timeout: float | None = 10.0,
        pool_size: int = 100,
        proxy: str | Proxies | None = None,
        ssl: TLSSetting = None,
    ) -> None:
        self._ssl: SSLContext | None = tls_context(ssl)
        #: What each request passes to aiohttp: the context, or aiohttp's verified default.
        self._request_ssl: SSLContext | bool = self._ssl if self._ssl is not None else True
        # aiohttp keeps the connect timeout (a new connection is rare); the whole
        # request's is kept by one timer for all of them (`RequestTimeouts`).
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        self._timeouts = RequestTimeouts(timeout) if timeout is not None else None
        self._owns_session = session is None
        self._session = guard(session) if session is not None else None
        self._pool_size = pool_size
        self._closed = False
        #: The last request headers and auth headers seen, and the two merged.
        self._merged: tuple[object, object, Mapping[str, str]] = (None, None, {})
        #: The last request body seen and its aiohttp payload (bytes: immutable, reusable).
        self._payload: tuple[bytes | None, aiohttp.payload.BytesPayload | None] = (None, None)
        #: The origin (``scheme://host[:port]``) of the last request, and its URL.
        self._origin: tuple[str, URL] = ("\0", URL())
        #: The last session seen, and its loop if its requests may go `_direct`.
        self._direct_for: tuple[object, asyncio.AbstractEventLoop | None] = (None, None)
        #: Which proxy each request goes through.
        self.proxies = as_proxies(proxy)

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session requests go through; ``None`` before the first one (or after closing)."""
        return self._session

    def get_session(self) -> aiohttp.ClientSession:
        """The session requests go through, created on first use."""
        if self._closed:
            # A request racing aclose() must not open a new session that nobody closes.
            raise TransportError("the transport is closed", maybe_sent=False)
        if self._session is None:
            # Created on first use so that it binds to the running loop.
            self._session = make_session(
                pool_size=self._pool_size, timeout=self._timeout, ssl=self._ssl
            )
        return self._session

    async def send(self, request: Request, auth_headers: Mapping[str, str]) -> Response:
        """Send *request* and read the whole answer.

        Args:
            request: The request, built by the protocol layer.
            auth_headers: The ``Authorization`` header to add (kept out of *request*
                so that nothing else ever holds the token).

        Returns:
            The answer, whatever its status (redirects are not followed).

        Raises:
            ProxyError: The proxy refused (407, a refused ``CONNECT``) or was not reached.
            TLSError: The server's certificate could not be verified (nothing sent).
            RequestTimeout: No complete answer within *timeout*.
            TransportError: The connection failed, or the transport is closed.
        """
        session = self.get_session()
        headers: Mapping[str, str] = auth_headers
        if request.headers:
            # The same two maps come every request of a run: merged once, not per request.
            merged = self._merged
            if merged[0] is not request.headers or merged[1] is not auth_headers:
                merged = self._merged = (
                    request.headers, auth_headers, {**request.headers, **auth_headers}
                )
            headers = merged[2]
        body = request.body
        data: aiohttp.payload.BytesPayload | None = None
        if body is not None:
            # A bulk run sends the same body to every record: wrapped once, not per
            # request (aiohttp's registry look-up and payload object each time).
            cached, data = self._payload
            if cached is not body or data is None:
                data = aiohttp.payload.BytesPayload(body, content_type=_content_type(request))
                self._payload = (body, data)
        route = self.proxies.route(request.url)
        proxy, proxy_headers = None, None
        if route is not None:
            headers, proxy, proxy_headers = route.apply(headers)
        timeouts = self._timeouts
        due = timeouts.begin() if timeouts is not None else None
        try:
            url = self._url(request.url)
            loop = self._direct_loop(session) if route is None else None
            if loop is not None:
                resp = await self._direct(session, loop, request.method, url, headers, data)
            else:
                resp = await session.request(
                    request.method,
                    url,
                    headers=headers,
                    data=data,
                    timeout=self._timeout,
                    allow_redirects=False,
                    # Every status is the exchange's to read, whatever the session's default.
                    raise_for_status=False,
                    proxy=proxy,
                    proxy_headers=proxy_headers,
                    # Per request as well, so that a session passed in verifies the same way.
                    ssl=self._request_ssl,
                )
            # Not ``async with``: reading the whole body releases the connection,
            # and the ``finally`` releases it on any failure (two awaits fewer).
            try:
                if resp.status == 407:
                    # The proxy's answer to a plain http:// request: the CRM never saw it.
                    text = proxy_failure(407, route)
                    raise ProxyError(f"{request.method}: {text}", retryable=False)
                body = await resp.read()
            finally:
                resp.release()
            response = Response(resp.status, resp.headers, body)
            if due is not None and due.cut:
                # Cut as the answer came in (the timer ran first): the answer stands;
                # the timer's cancellation, still pending, is taken here.
                assert timeouts is not None
                if timeouts.timed_out(due):
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.sleep(0)
            return response
        except asyncio.CancelledError:
            if due is not None and timeouts is not None and timeouts.timed_out(due):
                raise RequestTimeout(
                    f"{request.method} timed out after {timeouts.seconds:g}s"
                ) from None
            raise
        except aiohttp.ClientConnectorCertificateError as exc:
            # Before the proxy errors: through a proxy, the CRM's certificate is checked too.
            text = tls_failure(exc, URL(request.url).host)
            raise TLSError(f"{request.method}: {text}") from None
        except (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError) as exc:
            status = getattr(exc, "status", None)
            raise ProxyError(
                f"{request.method}: {proxy_failure(exc, route)}",
                retryable=status is None or status >= 500,
            ) from None
        except TimeoutError:
            # aiohttp's own timeout is the connect timeout alone (see __init__).
            within = self._timeout.sock_connect
            raise RequestTimeout(
                f"{request.method} could not connect"
                + (f" within {within:g}s" if within is not None else " in time"),
                maybe_sent=False,
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(
                f"{request.method} could not connect: {describe(exc)}", maybe_sent=False
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"{request.method} failed: {describe(exc)}") from None
        finally:
            if due is not None:
                assert timeouts is not None
                timeouts.end(due)

    def _direct_loop(self, session: aiohttp.ClientSession) -> asyncio.AbstractEventLoop | None:
        """The loop of *session* if its requests may go `_direct`, else ``None``.

        They may when this aiohttp has the pieces `_direct` uses (`DIRECT_FITS`) and the
        session adds nothing to a request that `_direct` would leave out: no default
        headers, skipped headers, basic auth, environment settings (``trust_env``),
        trace hooks, middlewares or request and response classes of its own, HTTP/1.1,
        and no cookies (a `aiohttp.DummyCookieJar`, as `make_session` gives). Decided
        once per session.
        """
        known, loop = self._direct_for
        if known is not session:
            loop = asyncio.get_running_loop() if _plain(session) else None
            self._direct_for = (session, loop)
        # A closed session goes the session's way, which says so as it always has.
        return loop if loop is None or not session.closed else None

    async def _direct(
        self,
        session: aiohttp.ClientSession,
        loop: asyncio.AbstractEventLoop,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        data: aiohttp.payload.BytesPayload | None,
    ) -> aiohttp.ClientResponse:
        """Send one request through *session*'s pool with aiohttp's own request and response.

        `aiohttp.ClientSession.request` wraps these two in what this transport never
        uses (cookies, redirects, netrc and environment proxies, trace hooks,
        middlewares, its own timer), at about 20 us of CPU a request (issue 30):
        here the connector gives a pooled connection, the request writes itself to
        it, and the response reads its status line and headers, as in aiohttp.
        """
        connector = session.connector
        assert connector is not None  # an open session, as _direct_loop checked
        req = aiohttp.ClientRequest(
            method, url, headers=headers, data=data, loop=loop, session=session,
            ssl=self._request_ssl,
        )  # fmt: skip
        conn = await connector.connect(req, traces=[], timeout=self._timeout)
        try:
            protocol = conn.protocol
            assert protocol is not None
            # As the session would: a body without a length ends with the connection.
            protocol.set_response_params(read_until_eof=True)
            resp = await req.send(conn)
            try:
                await resp.start(conn)
            except BaseException:
                resp.close()
                raise
        except BaseException:
            conn.close()
            raise
        return resp

    def _url(self, url: str) -> URL:
        """*url* as a `yarl.URL`, its origin parsed once per origin, not once per request.

        The protocol layer validated every path segment, so nothing is re-quoted;
        a URL with a query (or from another origin than the last) is parsed whole.
        """
        prefix, origin = self._origin
        if url.startswith(prefix) and url[len(prefix) : len(prefix) + 1] == "/" and "?" not in url:
            return origin.with_path(url[len(prefix) :], encoded=True)
        end = url.find("/", url.find("://") + 3)
        if end > 0:
            self._origin = (url[:end], URL(url[:end], encoded=True))
        return URL(url, encoded=True)

    async def aclose(self) -> None:
        """Close the session if this transport created it."""
        self._closed = True
        if self._timeouts is not None:
            self._timeouts.close()
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None


def _direct_fits() -> bool:
    """Whether this aiohttp has the pieces `AiohttpTransport._direct` uses, as it uses them."""
    try:
        from aiohttp.client_proto import ResponseHandler

        request = inspect.signature(aiohttp.ClientRequest).parameters
        connect = inspect.signature(aiohttp.BaseConnector.connect).parameters
        response = inspect.signature(ResponseHandler.set_response_params).parameters
    except (ImportError, TypeError, ValueError):
        return False
    return (
        {"headers", "data", "loop", "session", "ssl"} <= request.keys()
        and {"req", "traces", "timeout"} <= connect.keys()
        and "read_until_eof" in response
        and inspect.iscoroutinefunction(aiohttp.ClientRequest.send)
        and inspect.iscoroutinefunction(aiohttp.ClientResponse.start)
    )


#: Whether requests may go `AiohttpTransport._direct` with this aiohttp (else, all of
#: them go through `aiohttp.ClientSession.request`).
DIRECT_FITS = _direct_fits()


def _plain(session: aiohttp.ClientSession) -> bool:
    """Whether *session* adds nothing to a request that `AiohttpTransport._direct` leaves out."""
    return (
        DIRECT_FITS
        and isinstance(session, aiohttp.ClientSession)
        and isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
        and not session.headers
        and not session.skip_auto_headers
        and session.auth is None
        and not session.trust_env
        and not session.trace_configs
        and session.version == aiohttp.HttpVersion11
        # Set at construction, with no public reader:
        and not getattr(session, "_middlewares", None)
        and getattr(session, "_request_class", None) is aiohttp.ClientRequest
        and getattr(session, "_response_class", None) is aiohttp.ClientResponse
    )


def _content_type(request: Request) -> str:
    """The body's media type, as the request names it (aiohttp's default otherwise)."""
    for key, value in request.headers.items():
        if key.lower() == "content-type":
            return value
    return "application/octet-stream"


#: What answers a `MockTransport`'s requests: a function of the request and its
#: ``Authorization`` header, returning a `Response` (or an awaitable of one).
Handler = Callable[[Request, Mapping[str, str]], "Response | Awaitable[Response]"]


class MockTransport:
    """Answer every request from *handler*, in process, without sockets.

    Args:
        handler: Called with each request and its auth headers.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.closed = False

    async def send(self, request: Request, auth_headers: Mapping[str, str]) -> Response:
        """Call the handler; a coroutine result is awaited.

        Args:
            request: The request, built by the protocol layer.
            auth_headers: The ``Authorization`` header to add (kept out of *request*
                so that nothing else ever holds the token).

        Returns:
            The handler's `Response`.

        Raises:
            TypeError: The handler returned something other than a `Response`.
        """
        result = self._handler(request, auth_headers)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Response):
            raise TypeError(f"MockTransport handler returned {type(result).__name__}")
        return result

    async def aclose(self) -> None:
        """Mark the transport closed."""
        self.closed = True
