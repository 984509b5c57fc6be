"""The exchange: one request sent through flow control, retried until it has an answer.

`Exchange.send` is the only way a request reaches the transport. It waits for
a permit, adds the access token, sends, feeds the answer back to flow
control, refreshes the token once on 401 INVALID_TOKEN, and retries
connection failures, timeouts, 429 and 5xx answers with backoff. It knows
which methods are idempotent (a write whose answer was lost may have landed:
`Tally.maybe_applied` says so) and nothing about locks.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import attrs

from . import protocol
from .auth import TokenProvider
from .budget import RunBudget
from .datacentres import check_base_url
from .errors import (
    ApiError,
    FlowUnavailable,
    RunStopped,
    ThrottledTooLong,
    TransportError,
    ValidationError,
    ZohoLockingError,
)
from .flow import Flow, Permit
from .limits import credits_exhausted, credits_remaining
from .protocol import Request
from .retry import RETRY_STATUSES, RetryPolicy, retry_after
from .transport import Response, Transport

__all__ = ["Exchange", "Parser", "Tally"]

T = TypeVar("T")
Parser = Callable[[int, Mapping[str, str], bytes], T]

_VERSION_RE = re.compile(r"v[0-9]{1,2}")
_log = logging.getLogger("zoho_locking")
_CLOSED = "this LockingClient is closed; create a new one"


@attrs.define(slots=True)
class Tally:
    """What happened while one logical request was sent: attempts, retries, doubts."""

    attempts: int = 0
    retries: int = 0
    throttled: int = 0
    #: An earlier attempt of this write may have been applied by the server
    #: (its answer was lost or was a 5xx), so a refusal now may be our own doing.
    maybe_applied: bool = False
    #: The bulk run this request belongs to: its request cap and stop switch.
    budget: RunBudget | None = None


class Exchange:
    """Send requests to one CRM API root with flow control, retries and token refresh.

    *api_domain* may be ``None`` when *auth* learns the domain with its first
    token (`RefreshTokenAuth` does); `api_root` then asks it once.
    """

    def __init__(
        self,
        *,
        transport: Transport,
        auth: TokenProvider,
        flow: Flow,
        retry: RetryPolicy,
        rng: random.Random,
        api_domain: str | None,
        api_version: str,
        allow_insecure_http: bool = False,
    ) -> None:
        if not isinstance(api_version, str) or not _VERSION_RE.fullmatch(api_version):
            raise ValidationError(
                f"api_version must look like 'v8', got {api_version!r}", field="api_version"
            )
        self.transport = transport
        self.auth = auth
        self.flow = flow
        self.retry = retry
        self.api_domain = api_domain
        self.api_version = api_version
        self.closed = False
        #: The org's API credits left, from the last answer that said.
        self.credits_remaining: int | None = None
        # When the current unbroken run of 429s began (any other answer ends it).
        self._throttled_since: float | None = None
        self._rng = rng
        self._allow_insecure_http = allow_insecure_http
        #: ``{api_domain}/crm/{version}`` once known (see `api_root`).
        self.root = f"{api_domain}/crm/{api_version}" if api_domain is not None else None
        # The last token's header, built once per token rather than once per request.
        self._auth_token: str | None = None
        self._auth_headers: Mapping[str, str] = {}

    def __repr__(self) -> str:
        return f"Exchange(api_domain={self.api_domain!r}, api_version={self.api_version!r})"

    async def aclose(self) -> None:
        """Stop sending; close the transport, then the token provider's session, if any."""
        if self.closed:
            return
        self.closed = True
        try:
            await self.transport.aclose()
        finally:
            # RefreshTokenAuth owns an HTTP session; it reopens one if used again.
            closer = getattr(self.auth, "aclose", None)
            if closer is not None:
                await closer()

    async def api_root(self) -> str:
        """Return ``{api_domain}/crm/{version}``, asking the token provider for the domain once."""
        if self.root is not None:
            return self.root
        if self.closed:
            # Before the provider is asked: it would mint a token and open a session.
            raise ZohoLockingError(_CLOSED)
        await self.auth.get_token()
        domain = getattr(self.auth, "api_domain", None)
        if not isinstance(domain, str):
            raise ValidationError(
                "the accounts server named no api_domain; pass api_domain or dc",
                field="api_domain",
            )
        self.api_domain = check_base_url(
            domain, what="api_domain", allow_insecure_http=self._allow_insecure_http
        )
        self.root = f"{self.api_domain}/crm/{self.api_version}"
        return self.root

    async def call(self, request: Request, parse: Parser[T], tally: Tally) -> T:
        """Send *request* and parse its final answer with *parse*."""
        response = await self.send(request, tally)
        return parse(response.status, response.headers, response.body)

    def _authorization(self, token: str) -> Mapping[str, str]:
        if token != self._auth_token:
            self._auth_token, self._auth_headers = token, protocol.authorization(token)
        return self._auth_headers

    async def send(self, request: Request, tally: Tally) -> Response:
        """Send *request* through flow control, retrying what is worth retrying.

        Returns the last answer, whatever its status (the caller parses it);
        raises `TransportError` if the last attempt got no answer at all.
        """
        if self.closed:
            raise ZohoLockingError(_CLOSED)
        flow, policy = self.flow, self.retry
        is_write = request.method != "GET"
        started: float | None = None  # when the first attempt got its permit
        refreshed = False
        attempt = 0
        while True:
            permit = await flow.acquire()
            if started is None:
                started = permit.sent_at
            if self.closed:
                # Closed while this request waited or backed off: stop, do not retry.
                await flow.release(permit, None)
                raise ZohoLockingError(_CLOSED)
            if tally.budget is not None:
                try:
                    tally.budget.admit()
                except RunStopped:
                    await flow.release(permit, None)
                    raise
            attempt += 1
            tally.attempts += 1
            try:
                token = await self.auth.get_token()
                response: Response | None = await self.transport.send(
                    request, self._authorization(token)
                )
                failure: TransportError | None = None
            except TransportError as exc:
                response, failure = None, exc
            except BaseException:
                await flow.release(permit, None)
                raise
            flow_lost: FlowUnavailable | None = None
            if response is None:
                await flow.release(permit, None)
            elif response.status != 429:
                self._throttled_since = None
                flow_lost = await _release_answered(flow, permit, response.status, tally)
                if response.headers:
                    remaining = credits_remaining(response.headers)
                    if remaining is not None:
                        self.credits_remaining = remaining
            elif credits_exhausted(response.headers, response.body):
                # Not a busy org, so no cooldown and no retry: the caller learns at once.
                self.credits_remaining = 0
                await _release_answered(flow, permit, None, tally)
                return response
            else:
                tally.throttled += 1
                flow_lost = await _release_answered(
                    flow, permit, 429, tally, retry_after(response.headers, time.time())
                )
                self._note_throttled()
            if _log.isEnabledFor(logging.DEBUG):
                # The URL holds ids only; the token travels in a header never logged.
                _log.debug("%s %s -> %s in %.1f ms (attempt %d)", request.method, request.url,
                           response.status if response is not None else failure,
                           (flow.now() - permit.sent_at) * 1000, attempt)  # fmt: skip

            if response is not None:
                if response.status == 401 and not refreshed and _is_invalid_token(response):
                    if flow_lost is not None:
                        raise flow_lost  # no second attempt may go out: unfinished
                    refreshed = True
                    if await self.auth.refresh(token) is not None:
                        attempt -= 1  # a fresh token is a new start, not a retry
                        continue
                    return response
                if response.status not in RETRY_STATUSES:
                    return response  # final, so it stands even if the flow is gone
                if flow_lost is not None:
                    raise flow_lost  # no retry may go out: the request is unfinished
                # 429 and 503 mean refused before any work; 500, 502 and 504 may
                # come after the write was applied behind the proxy.
                if is_write and response.status not in (429, 503):
                    tally.maybe_applied = True
            elif is_write and failure is not None and failure.maybe_sent:
                tally.maybe_applied = True

            if attempt >= policy.max_attempts:
                break
            delay = policy.delay(attempt, self._rng, response, time.time())
            if policy.deadline is not None and flow.now() + delay - started > policy.deadline:
                break
            tally.retries += 1
            if delay > 0:
                await flow.sleep(delay)
        if response is not None:
            return response
        assert failure is not None
        raise failure

    def _note_throttled(self) -> None:
        """Raise `ThrottledTooLong` if 429s alone have come back for over the deadline."""
        now = self.flow.now()
        if self._throttled_since is None:
            self._throttled_since = now
            return
        waited = now - self._throttled_since
        limit = self.retry.stall_timeout
        if limit is not None and waited > limit:
            raise ThrottledTooLong(waited)


async def _release_answered(
    flow: Flow,
    permit: Permit,
    status: int | None,
    tally: Tally,
    server_wait: float | None = None,
) -> FlowUnavailable | None:
    """Give back the permit of a request that got an answer; the flow's failure, if it fails.

    The answer is in hand whatever the flow says (a 201 means the record IS
    locked), so it must not be lost to a shared budget that went away while
    the request was out: the caller keeps it, and the run is stopped here
    instead, so that nothing more is sent.
    """
    try:
        await flow.release(permit, status, server_wait=server_wait)
    except FlowUnavailable as exc:
        if tally.budget is not None:
            tally.budget.stop(exc.code, exc.message)
        return exc
    return None


def _is_invalid_token(response: Response) -> bool:
    try:
        protocol.decipher(response.status, response.headers, response.body)
    except ApiError as exc:
        return exc.code == "INVALID_TOKEN"
    return False
