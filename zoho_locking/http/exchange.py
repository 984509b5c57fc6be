"""The exchange: one request sent through flow control, retried until it has an answer.

`Exchange.send` is the only way a request reaches the transport, as a chain
of named steps: `_attempt` (a permit, the caller's admission, the token, the
send, and the permit's one release), `_observe` (what the answer says of
credits and throttling), one refresh on 401 INVALID_TOKEN (`TokenHeader`),
`may_have_landed` (a write whose answer was lost may have landed) and
`RetryPolicy.next_delay` (whether, and when, to try again). It knows which methods are
idempotent and nothing about locks or bulk runs: a run reaches it only as an
`Admission`, and everything it does is told to the call's `Events`. A call
may bring its own `RetryPolicy`, and a `Deadline` (`zoho_locking.http.deadline`).
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Protocol, TypeAlias, TypeVar

import attrs

from ..auth.provider import TokenProvider
from ..errors import (
    FlowUnavailable,
    TransportError,
    ValidationError,
    ZohoLockingError,
)
from ..events import Events, RequestSent, RetryScheduled
from ..flow.base import Flow
from ..wire.datacentres import check_base_url
from ..wire.protocol import Request
from .answers import feedback, is_invalid_token, may_have_landed
from .deadline import Deadline, DeadlineCut, DeadlinePassed
from .retry import RETRY_STATUSES, RetryPolicy
from .token import TokenHeader
from .transport import Response, Transport
from .watch import Watch

__all__ = ["Admission", "Call", "Exchange", "Parser"]

T = TypeVar("T")
Parser = Callable[[int, Mapping[str, str], bytes], T]

#: What one attempt came to: the answer or the failure, the token it was sent with,
#: when its permit came, whether it was a 429 for spent credits, and the shared
#: budget's failure if the permit could not be given back.
_Sent: TypeAlias = tuple[
    Response | None, TransportError | None, str, float, bool, "FlowUnavailable | None"
]

_VERSION_RE = re.compile(r"v[0-9]{1,2}")
_log = logging.getLogger("zoho_locking")
_CLOSED = "this LockingClient is closed; create a new one"


class Admission(Protocol):
    """Decides whether one more request may be sent: a bulk run's stop switch and cap."""

    def admit(self) -> None:
        """Count one request about to be sent, or raise `RunStopped` if none may be."""
        ...

    def halt(self, code: str, message: str, http_status: int | None = None) -> object:
        """Let nothing more be sent, for the reason given."""
        ...


@attrs.define(slots=True)
class Call:
    """One logical call's context: where its events go, who admits its requests, what it saw.

    A single-record call has one; a bulk run gives each record one, carrying
    the run's `Admission` and the run's `Events`.
    """

    events: Events
    admission: Admission | None = None
    #: Requests sent for this call so far (retries, look-ups and settling reads included).
    attempts: int = 0
    #: An earlier attempt of a write may have been applied by the server (its answer
    #: was lost, or was a 5xx), so a refusal now may be this call's own doing.
    write_may_have_landed: bool = False
    #: When the whole call must be over, if the caller said (``timeout=``).
    deadline: Deadline | None = None
    #: The retry policy of this call, if not the client's (``retry=``).
    retry: RetryPolicy | None = None

    def expired(self, method: str) -> ZohoLockingError:
        """What the caller gets once this call's deadline has passed."""
        assert self.deadline is not None
        doubt, sent = self.write_may_have_landed, self.attempts > 0
        return self.deadline.expired(method, doubt=doubt, sent=sent)


class Exchange:
    """Send requests to one CRM API root with flow control, retries and token refresh.

    *api_domain* may be ``None`` when *auth* learns the domain with its first
    token (`RefreshTokenAuth` does); `api_root` then asks it once. *events*
    hears what every request of every call does (the client's hooks).
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
        events: Events | None = None,
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
        self.events = events if events is not None else Events()
        self.api_domain = api_domain
        self.api_version = api_version
        self.closed = False
        self._watch = Watch(flow, retry.stall_timeout)
        self._rng = rng
        self._allow_insecure_http = allow_insecure_http
        #: ``{api_domain}/crm/{version}`` once known (see `api_root`).
        self.root = f"{api_domain}/crm/{api_version}" if api_domain is not None else None
        self._header = TokenHeader(auth)

    def __repr__(self) -> str:
        return f"Exchange(api_domain={self.api_domain!r}, api_version={self.api_version!r})"

    @property
    def credits_remaining(self) -> int | None:
        """The org's API credits left, from the last answer that said."""
        return self._watch.credits_remaining

    def new_call(
        self,
        admission: Admission | None = None,
        events: Events | None = None,
        *,
        deadline: Deadline | None = None,
        retry: RetryPolicy | None = None,
    ) -> Call:
        """A context for one logical call; its events reach *events*, else the client's."""
        events = events if events is not None else self.events
        return Call(events, admission, deadline=deadline, retry=retry)

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

    async def api_root(self, call: Call | None = None) -> str:
        """Return ``{api_domain}/crm/{version}``, asking the token provider for it once."""
        if self.root is None:
            if self.closed:
                # Before the provider is asked: it would mint a token and open a session.
                raise ZohoLockingError(_CLOSED)
            deadline = call.deadline if call is not None else None
            self.api_domain = await _domain_of(
                self.auth, self.flow, deadline, self._allow_insecure_http
            )
            self.root = f"{self.api_domain}/crm/{self.api_version}"
        return self.root

    async def fetch(self, request: Request, parse: Parser[T], call: Call) -> T:
        """Send *request* and parse its final answer with *parse*."""
        response = await self.send(request, call)
        return parse(response.status, response.headers, response.body)

    async def send(self, request: Request, call: Call) -> Response:
        """Send *request* through flow control, retrying what is worth retrying.

        Returns the last answer, whatever its status (the caller parses it);
        raises `TransportError` if the last attempt got no answer at all.
        """
        if self.closed:
            raise ZohoLockingError(_CLOSED)
        attempt, refreshed = 0, False
        first: float | None = None  # when the first attempt got its permit
        while True:
            attempt += 1
            # An answer or a failure; the token it went with; when its permit came;
            # whether it was a 429 for spent credits (final, never retried); and the
            # shared budget's failure if the permit could not be given back.
            try:
                response, failure, token, started, spent, lost = await self._attempt(
                    request, call, attempt
                )
                if first is None:
                    first = started
                if (
                    response is not None
                    and response.status == 401
                    and not refreshed
                    and is_invalid_token(response)
                ):
                    if lost is not None:
                        raise lost  # no second attempt may go out: the request is unfinished
                    refreshed, limit = True, call.deadline
                    renew = partial(self._header.renew, token, call.events)
                    if await (renew() if limit is None else limit.within(self.flow.now(), renew)):
                        attempt -= 1  # a fresh token is a new start, not a retry
                        continue
                    return response
            except DeadlinePassed:
                raise call.expired(request.method) from None
            # A final answer stands even if the flow is gone; a request that would need
            # another attempt raises the flow's failure: it is unfinished.
            if response is not None and (spent or response.status not in RETRY_STATUSES):
                return response
            if lost is not None:
                raise lost
            if may_have_landed(request, response, failure):
                call.write_may_have_landed = True
            until = call.deadline.at if call.deadline is not None else None
            delay = (call.retry or self.retry).next_delay(
                attempt, self._rng, response, failure, first, self.flow.now(), until
            )
            if delay is None:
                if response is not None:
                    return response
                assert failure is not None
                if isinstance(failure, DeadlineCut):
                    raise call.expired(request.method)
                raise failure
            if call.events.wants(RetryScheduled):
                reason = f"HTTP {response.status}" if response is not None else _code(failure)
                call.events.emit(
                    RetryScheduled(request.method, request.url, attempt, delay, reason)
                )
            if delay > 0:
                await self.flow.sleep(delay)

    # -- the steps ---------------------------------------------------------------

    async def _attempt(self, request: Request, call: Call, attempt: int) -> _Sent:
        """Send once under a permit; the permit is released here and nowhere else."""
        flow, deadline = self.flow, call.deadline
        permit = await (
            flow.acquire() if deadline is None else deadline.within(flow.now(), flow.acquire)
        )
        response: Response | None = None
        failure: TransportError | None = None
        lost: FlowUnavailable | None = None
        token = ""
        try:
            if self.closed:
                # Closed while this request waited or backed off: stop, do not retry.
                raise ZohoLockingError(_CLOSED)
            if call.admission is not None:
                call.admission.admit()
            if deadline is None:
                # As `_send`, written out: the common path spares a coroutine per attempt.
                token = await self._header.auth.get_token()
                headers = _count(self._header, request, call, attempt, token)
                response = await self.transport.send(request, headers)
            else:
                counted = call.attempts  # cut short before it is counted, nothing was sent
                token, response = await deadline.attempt(
                    flow.now(), request.method, lambda: self._send(request, call, attempt),
                    sent=lambda: call.attempts > counted,
                )  # fmt: skip
        except TransportError as exc:
            failure = exc
        finally:
            status, wait, spent = feedback(response)
            try:
                await flow.release(permit, status, server_wait=wait)
            except FlowUnavailable as exc:
                if response is None:
                    raise
                # The answer is in hand whatever the flow says (a 201 means the record
                # IS locked): keep it, and stop the run instead, so nothing more is sent.
                if call.admission is not None:
                    call.admission.halt(exc.code, exc.message)
                lost = exc
        self._watch.saw(request, attempt, permit, response, failure, spent, call.events)
        return response, failure, token, permit.sent_at, spent, lost

    async def _send(self, request: Request, call: Call, attempt: int) -> tuple[str, Response]:
        """The token, then the request, as one piece of work a deadline can bound."""
        token = await self._header.auth.get_token()
        headers = _count(self._header, request, call, attempt, token)
        return token, await self.transport.send(request, headers)


def _count(
    header: TokenHeader, request: Request, call: Call, attempt: int, token: str
) -> Mapping[str, str]:
    """Count the attempt about to go out and tell it; the headers for *token*."""
    headers = header.headers(token, call.events)
    call.attempts += 1
    if call.events.wants(RequestSent):
        call.events.emit(RequestSent(request.method, request.url, attempt))
    return headers


async def _domain_of(
    auth: TokenProvider, flow: Flow, deadline: Deadline | None, allow_insecure_http: bool
) -> str:
    """The CRM domain the token provider learned with its first token."""
    if deadline is None:
        await auth.get_token()
    else:  # the first token counts against the call's deadline
        await deadline.unsent_within(flow.now(), auth.get_token)
    domain = getattr(auth, "api_domain", None)
    if not isinstance(domain, str):
        raise ValidationError(
            "the accounts server named no api_domain; pass api_domain or dc", field="api_domain"
        )
    return check_base_url(domain, what="api_domain", allow_insecure_http=allow_insecure_http)


def _code(failure: TransportError | None) -> str:
    return failure.code if failure is not None else "NO_ANSWER"
