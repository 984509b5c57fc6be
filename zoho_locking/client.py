"""`LockingClient`: the public facade that wires the layers together.

It validates arguments, builds the transport, flow control, `Exchange` and
`Operations` once, and hands each call to them: the single-record calls to
`Operations`, the bulk calls to the bulk engine. It holds no protocol or retry
logic of its own.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Self

import aiohttp

from .auth.provider import StaticToken, TokenProvider
from .bulk.methods import BulkMethods
from .calls import LockingCalls, RecordMethods
from .errors import ValidationError, ZohoLockingError
from .events import Events
from .flow.base import Clock, Flow, Sleep
from .flow.local import FlowControl
from .hooks import Hook, Hooks
from .http.exchange import Exchange
from .http.retry import RetryPolicy
from .http.transport import AiohttpTransport, Transport
from .net.proxy import Proxies
from .net.tls import TLSSetting
from .otel import Telemetry, default_telemetry
from .wire.datacentres import check_base_url, check_environment, data_centre

__all__ = ["LockingClient"]


class LockingClient(RecordMethods, BulkMethods):
    """An async client for Zoho CRM's Record Locking Information API.

    Use it as an async context manager; it owns the connection pool (one
    aiohttp session, unless you pass your own *session*: one from
    `make_session` may serve many clients, and any session passed in gets
    aiohttp's silent resend of requests turned off):

        async with LockingClient(access_token=token, dc="eu") as client:
            result = await client.lock("Deals", "5843104000001068086", reason="closing")

    Give either *api_domain* (``https://www.zohoapis.com``) or *dc* (``us``,
    ``eu``, ``in``, ``au``, ``jp``, ``ca``, ``cn``, ``sa``), or neither with a
    `RefreshTokenAuth`, whose token answer names the domain. *environment*
    (``production``, ``sandbox`` or ``developer``) picks the data centre's
    domain for that environment: with *dc*, or with the data centre the token
    answer names (an explicit sandbox or developer wins over the production
    domain the answer names). `api_domain` shows the result. Plain ``http://``
    is refused for anything but loopback unless *allow_insecure_http* is set.

    Servers are verified against the certificate authorities *ssl* names: a CA
    bundle's path (PEM), an `ssl.SSLContext`, ``"system"`` (the operating
    system's store, ``zoho-locking[truststore]``), or ``None`` for Python's
    defaults (``SSL_CERT_FILE`` honoured). ``ssl=False`` is refused: a
    certificate that fails raises `TLSError`. Give a `RefreshTokenAuth` the
    same *ssl* for its token requests.

    *hooks* are plain or async callables called with every event of the client
    (`zoho_locking.events`: requests sent and answered, retries, 429s, credits,
    new tokens, records finished, runs started, stopped and ended); a hook that
    raises never breaks a call. With ``opentelemetry-api`` installed, a client
    made after the application set its global tracer or meter provider records
    metrics and spans on them; ``telemetry=True`` records on the global
    providers even if they are set later, ``telemetry=Telemetry(...)``
    (`zoho_locking.otel`) on others, ``telemetry=False`` nowhere.

    Every call on one client shares its flow control: at most
    *max_concurrency* requests in flight (lowered automatically while the
    server answers 429, raised again as it recovers), at most *rate_limit*
    requests per second if set, and retries per *retry* (a `RetryPolicy`) for
    connection errors, timeouts, 429 and 5xx answers. *clock*, *sleep* and
    *rng* exist so tests can run retries without waiting. Pass *flow* (any
    `Flow`) to share one budget with other clients instead; *max_concurrency*,
    *rate_limit*, *adaptive_concurrency*, *clock* and *sleep* then go unused.

    Requests go through *proxy* (a URL such as ``http://user:pw@proxy:3128``,
    or a `Proxies`), else the proxy the environment names (``HTTPS_PROXY``,
    ``HTTP_PROXY``, minus ``NO_PROXY``), read when the client is made.

    Every single-record call takes *timeout* (seconds for the whole call:
    permits, attempts, backoff, settling) and *retry* (a `RetryPolicy` for this
    call only). When the timeout passes, a read raises `RequestTimeout`, and a
    write `UncertainOutcome` if it may have reached the server (else
    `RequestTimeout`); the client holds nothing afterwards.

    Args:
        access_token: An access token (valid for an hour); or give *auth*.
        auth: A `TokenProvider` (`RefreshTokenAuth` mints tokens as needed).
        api_domain: The CRM's API domain (``https://www.zohoapis.eu``); or give *dc*.
        dc: The data centre: ``us``, ``eu``, ``in``, ``au``, ``jp``, ``ca``, ``cn``, ``sa``.
        api_version: The API version in every URL (``v8``; ``v5`` to ``v7`` work too).
        timeout: Seconds for one attempt of one request (``None``: none).
        connect_timeout: Seconds to connect (``None``: no cap but *timeout*).
        session: An aiohttp session to share (`make_session`); yours to close.
        transport: A `Transport` instead of aiohttp (`MockTransport` in tests).
        proxy: A proxy URL or `Proxies`; ``None``: the environment's.
        environment: ``production`` (default), ``sandbox`` or ``developer``: that
            environment's API domain in the data centre (`api_domain` shows it).
        ssl: The CAs to verify servers with: a CA bundle's path, an
            `ssl.SSLContext`, ``"system"`` (extra ``truststore``), or ``None`` for
            Python's defaults (``SSL_CERT_FILE`` honoured); never ``False``.
        allow_insecure_http: Allow ``http://`` API domains other than loopback.
        max_concurrency: The most requests in flight; also a bulk call's workers.
        rate_limit: The most requests per second, if set.
        adaptive_concurrency: Lower the in-flight limit on 429 and raise it again.
        flow: A `Flow` to share with other clients (`RedisFlow`, a `FlowControl`).
        retry: The `RetryPolicy` of every call (default: `RetryPolicy()`).
        clock: The flow control's clock (tests).
        sleep: How the client waits (tests).
        rng: Where the backoff's jitter comes from (tests).
        hooks: Callables given every event (`zoho_locking.events`).
        telemetry: OpenTelemetry: ``None`` if set up, ``True``, ``False`` or a `Telemetry`.

    Raises:
        ValidationError: Both or neither of *access_token* and *auth*, or of
            *api_domain* and *dc*; an unknown *dc*; plain ``http://`` elsewhere than
            loopback; a setting out of range; an unknown *environment*; ``ssl=False``
            or a context that does not verify.
    """

    def __init__(
        self,
        *,
        access_token: str | None = None,
        auth: TokenProvider | None = None,
        api_domain: str | None = None,
        dc: str | None = None,
        environment: str = "production",
        api_version: str = "v8",
        timeout: float | None = 30.0,
        connect_timeout: float | None = 10.0,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        proxy: str | Proxies | None = None,
        ssl: TLSSetting = None,
        allow_insecure_http: bool = False,
        max_concurrency: int = 10,
        rate_limit: float | None = None,
        adaptive_concurrency: bool = True,
        flow: Flow | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        hooks: Iterable[Hook] = (),
        telemetry: Telemetry | bool | None = None,
    ) -> None:
        resolved_auth = _pick_auth(access_token, auth)
        self._hooks = Hooks(hooks)
        environment = check_environment(environment)
        domain = _pick_domain(api_domain, dc, environment, allow_insecure_http, resolved_auth)
        self.flow: Flow = _pick_flow(
            flow, max_concurrency, rate_limit, adaptive_concurrency, clock, sleep
        )
        self.retry = retry if retry is not None else RetryPolicy()
        self._exchange = Exchange(
            transport=_pick_transport(
                transport, session, timeout, connect_timeout, self.flow.max_concurrency, proxy,
                ssl,
            ),
            auth=resolved_auth,
            flow=self.flow,
            retry=self.retry,
            rng=rng or random.Random(),
            api_domain=domain,
            api_version=api_version,
            environment=environment,
            events=_listened(self._hooks, telemetry, self),
            allow_insecure_http=allow_insecure_http,
        )
        self._calls = LockingCalls(self._exchange)
        #: The transport every request goes through, and the token provider.
        self.transport, self.auth = self._exchange.transport, resolved_auth
        self.api_version = api_version

    @property
    def api_domain(self) -> str | None:
        """The CRM API domain requests go to; ``None`` until a `RefreshTokenAuth` names it."""
        return self._exchange.api_domain

    @property
    def credits_remaining(self) -> int | None:
        """The org's API credits left, as the last answer that said told; else ``None``."""
        return self._exchange.credits_remaining

    @property
    def concurrency_limit(self) -> int | None:
        """The flow's in-flight limit now (it adapts to 429s); ``None`` if the flow won't say."""
        limit = getattr(self.flow, "limit", None)
        return limit if isinstance(limit, int) else None

    @property
    def in_flight(self) -> int | None:
        """Requests between permit and answer right now; ``None`` if the flow won't say."""
        count = getattr(self.flow, "in_flight", None)
        return count if isinstance(count, int) else None

    def add_hook(self, hook: Hook) -> None:
        """Call *hook* with every event of this client from now on (see *hooks*)."""
        self._hooks.add(hook)

    def __repr__(self) -> str:
        return f"LockingClient(api_domain={self.api_domain!r}, api_version={self.api_version!r})"

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._exchange.closed:
            raise ZohoLockingError("this LockingClient is closed; create a new one")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (if the client created it) and the token provider's.

        Async hooks still running are awaited first.
        """
        try:
            await self._hooks.wait()
        finally:
            await self._exchange.aclose()


def _listened(hooks: Hooks, telemetry: Telemetry | bool | None, client: LockingClient) -> Events:
    """The client's events, heard by its *hooks* and, if on, by OpenTelemetry."""
    events = Events()
    hooks.listen(events)
    if telemetry is None or telemetry is True:
        telemetry = default_telemetry(only_if_configured=telemetry is None)
    if isinstance(telemetry, Telemetry):
        telemetry.attach(events, client)
    return events


def _pick_auth(access_token: str | None, auth: TokenProvider | None) -> TokenProvider:
    if (access_token is None) == (auth is None):
        raise ValidationError("pass exactly one of access_token or auth", field="access_token")
    if auth is not None:
        if not isinstance(auth, TokenProvider):
            raise ValidationError(
                "auth must provide get_token() and refresh() (see TokenProvider)", field="auth"
            )
        return auth
    assert access_token is not None
    return StaticToken(access_token)


def _pick_domain(
    api_domain: str | None,
    dc: str | None,
    environment: str,
    allow_insecure_http: bool,
    auth: TokenProvider,
) -> str | None:
    if api_domain is not None and dc is not None:
        raise ValidationError("pass either api_domain or dc, not both", field="api_domain")
    if api_domain is not None and environment != "production":
        raise ValidationError(
            f"environment={environment!r} picks a data centre's domain: pass it with dc, "
            "or give api_domain alone (the environment's own domain)",
            field="environment",
        )
    theirs = getattr(auth, "environment", "production")
    if environment != "production" and theirs not in ("production", environment):
        raise ValidationError(
            f"the client asks for environment {environment!r}, its token provider for "
            f"{theirs!r}: give one",
            field="environment",
        )
    if api_domain is None and dc is None and hasattr(auth, "api_domain"):
        # A provider that learns the domain from the accounts server
        # (RefreshTokenAuth) supplies it at the first call.
        return None
    if api_domain is not None:
        return check_base_url(
            api_domain, what="api_domain", allow_insecure_http=allow_insecure_http
        )
    if dc is not None:
        return data_centre(dc).domain(environment)
    raise ValidationError(
        "pass api_domain (e.g. https://www.zohoapis.com) or dc (e.g. 'us')", field="api_domain"
    )


def _pick_flow(
    flow: Flow | None,
    max_concurrency: int,
    rate_limit: float | None,
    adaptive: bool,
    clock: Clock | None,
    sleep: Sleep | None,
) -> Flow:
    if flow is None:
        return FlowControl(
            max_concurrency=max_concurrency,
            rate_limit=rate_limit,
            adaptive=adaptive,
            clock=clock,
            sleep=sleep,
        )
    if not isinstance(flow, Flow):
        raise ValidationError(
            "flow must provide acquire(), release(), now() and sleep (see Flow)", field="flow"
        )
    return flow


def _pick_transport(
    transport: Transport | None,
    session: aiohttp.ClientSession | None,
    timeout: float | None,
    connect_timeout: float | None,
    pool_size: int,
    proxy: str | Proxies | None,
    ssl: TLSSetting,
) -> Transport:
    for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
        if value is not None and not (isinstance(value, int | float) and value > 0):
            raise ValidationError(f"{name} must be a positive number or None", field=name)
    if transport is not None and session is not None:
        raise ValidationError("pass either session or transport, not both", field="transport")
    if transport is not None:
        if proxy is not None:
            raise ValidationError("pass proxy to your transport, not beside it", field="proxy")
        if ssl is not None:
            raise ValidationError("pass ssl to your transport, not beside it", field="ssl")
        return transport
    return AiohttpTransport(
        session, timeout=timeout, connect_timeout=connect_timeout, pool_size=pool_size,
        proxy=proxy, ssl=ssl,
    )  # fmt: skip
