"""What happens inside the engine, told once, as typed events.

Each thing is counted once, where it happens: the exchange tells of every
request sent and every answer, retry, 429, credits figure and new token; the
bulk engine of every run that starts, stops or ends and every record
finished. Whoever needs a figure listens instead of counting again: a bulk
run's report, journal, progress bar and stop switch, the caller's own hooks,
and OpenTelemetry.

`Events` routes each event to the listeners of its type. Events never carry
a token or a secret: URLs hold ids only, and errors are named by type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import attrs

from .models import Operation, Outcome, RunStop

__all__ = [
    "AnswerReceived",
    "CreditsSeen",
    "DuplicateId",
    "Event",
    "Events",
    "Listener",
    "RecordFinished",
    "RequestSent",
    "RetryScheduled",
    "RunEnded",
    "RunHalted",
    "RunStarted",
    "Throttled",
    "TokenRefreshed",
]


@attrs.frozen(slots=True)
class RequestSent:
    """A request went out: *attempt* 1 is the first, 2 the first retry, ..."""

    method: str
    url: str
    attempt: int


@attrs.frozen(slots=True)
class AnswerReceived:
    """An attempt ended: with an HTTP *status*, or none (*error* names what happened).

    *started* is the flow's clock when the permit was granted; *duration* the
    seconds from then to the answer (or the failure).
    """

    method: str
    url: str
    attempt: int
    status: int | None
    duration: float
    started: float
    #: The failure's code when no answer came (``TRANSPORT_ERROR``, ``TIMEOUT``).
    error: str | None = None


@attrs.frozen(slots=True)
class RetryScheduled:
    """Attempt *attempt* failed; the next one follows after *delay* seconds."""

    method: str
    url: str
    attempt: int
    delay: float
    #: ``HTTP 429``, ``HTTP 500``, ..., or the failure's code (``TRANSPORT_ERROR``).
    reason: str


@attrs.frozen(slots=True)
class Throttled:
    """The server answered 429 to a busy org (not spent credits).

    *limit* is the in-flight limit the flow control set in answer, if it says.
    """

    method: str
    url: str
    limit: int | None


@attrs.frozen(slots=True)
class CreditsSeen:
    """An answer said how many API credits the org has left."""

    remaining: int


@attrs.frozen(slots=True)
class TokenRefreshed:
    """The client started using a new access token (the token itself is never told)."""

    #: Why: ``expiring`` (renewed ahead of expiry, or first use) or ``rejected`` (a 401).
    reason: str


@attrs.frozen(slots=True)
class RecordFinished:
    """One record of a bulk run got its final outcome.

    *resumed* outcomes come from an earlier run's journal; *seconds* is how
    long a worker spent on the record (``None`` for a record refused at the
    intake, resumed, or cancelled before a worker had it).
    """

    operation: Operation
    module: str
    outcome: Outcome
    seconds: float | None = None
    resumed: bool = False


@attrs.frozen(slots=True)
class DuplicateId:
    """A bulk run was given an id it had already taken; it is done once."""

    record_id: str


@attrs.frozen(slots=True)
class RunHalted:
    """A bulk run stopped before its end: nothing more is sent."""

    operation: Operation
    module: str
    stop: RunStop


@attrs.frozen(slots=True)
class RunStarted:
    """A bulk run begins (*run_id* tells it from others of this process)."""

    operation: Operation
    module: str
    run_id: int


@attrs.frozen(slots=True)
class RunEnded:
    """A bulk run ended: finished, stopped (*stop*) or cancelled. Its figures, as reported."""

    operation: Operation
    module: str
    run_id: int
    total: int
    succeeded: int
    failed: int
    skipped: int
    unfinished: int
    requests: int
    seconds: float
    stop: RunStop | None = None
    cancelled: bool = False


Event: TypeAlias = (
    RequestSent
    | AnswerReceived
    | RetryScheduled
    | Throttled
    | CreditsSeen
    | TokenRefreshed
    | RecordFinished
    | DuplicateId
    | RunHalted
    | RunStarted
    | RunEnded
)
E = TypeVar("E")
Listener: TypeAlias = Callable[[Any], None]


class Events:
    """Listeners by event type; `emit` calls those of the event's type, in order.

    A child made with `child` tells its own listeners first, then its
    parent's: a bulk run's events reach the run's report and the client's hooks.

    Args:
        parent: The `Events` that also hears every event told here (`child` sets it).
    """

    __slots__ = ("_listeners", "_parent", "_routes", "_seen")

    # Bumped whenever any `Events` gains a listener: every route cached before is stale.
    _generation = 0

    def __init__(self, parent: Events | None = None) -> None:
        self._parent = parent
        self._listeners: dict[type[Any], tuple[Listener, ...]] = {}
        # Each type's listeners here and up the chain, flattened: one look-up per emit.
        self._routes: dict[type[Any], tuple[Listener, ...]] = {}
        self._seen = -1  # the generation the routes were cached at

    def child(self) -> Events:
        """A new `Events` whose events also reach this one's listeners."""
        return Events(self)

    def on(self, kind: type[E], listener: Callable[[E], None]) -> None:
        """Call *listener* with every event of type *kind*."""
        self._listeners[kind] = (*self._listeners.get(kind, ()), listener)
        Events._generation += 1

    def wants(self, kind: type[Any]) -> bool:
        """Whether anyone listens to *kind*, so an emitter may skip building the event."""
        if self._seen == Events._generation and kind in self._routes:
            return bool(self._routes[kind])
        return bool(self._route(kind))

    def emit(self, event: Event) -> None:
        """Tell *event* to its listeners, then to the parent's."""
        route = self._routes.get(type(event)) if self._seen == Events._generation else None
        for listener in route if route is not None else self._route(type(event)):
            listener(event)

    def _route(self, kind: type[Any]) -> tuple[Listener, ...]:
        if self._seen != Events._generation:
            self._routes.clear()
            self._seen = Events._generation
        route = self._routes.get(kind)
        if route is None:
            own = self._listeners.get(kind, ())
            route = own + (self._parent._route(kind) if self._parent is not None else ())
            self._routes[kind] = route
        return route
