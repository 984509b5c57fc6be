"""OpenTelemetry metrics and traces from a client's events, through the API only.

With ``opentelemetry-api`` installed (the ``otel`` extra), a `LockingClient`
made after the application set its global tracer or meter provider reports to
them (``telemetry=True`` records on the global providers whenever they are
set; ``telemetry=Telemetry(...)`` on others); without the API, or before any
provider is set, nothing here is paid per request. What is recorded comes
from the same events the bulk report counts (`zoho_locking.events`), so
telemetry and report agree:

* ``http.client.request.duration`` (histogram, s), one data point per request
  sent, with the HTTP client semantic conventions' attributes
  (``http.request.method``, ``server.address``, ``server.port``,
  ``http.response.status_code``, ``error.type``);
* counters ``zoho_locking.records`` (``zoho_locking.operation``,
  ``zoho_locking.outcome``, ``zoho_locking.code``), ``zoho_locking.throttled``
  (429 answers), ``zoho_locking.retries`` and ``zoho_locking.token.refreshes``;
* gauges ``zoho_locking.concurrency.limit`` (the adaptive in-flight limit) and
  ``zoho_locking.credits.remaining`` (the last figure Zoho sent);
* one CLIENT span per request sent (``http.request.resend_count`` on retries),
  a child of the caller's current span, or of the span of the bulk call it
  belongs to (``lock_many``, ...), itself a child of the caller's span.

Nothing secret is ever recorded: URLs hold ids only, tokens travel in headers
the events never see, and errors are named by type or code.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from ._version import __version__
from .events import (
    AnswerReceived,
    Events,
    RecordFinished,
    RetryScheduled,
    RunEnded,
    RunStarted,
    Throttled,
    TokenRefreshed,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["Telemetry", "available", "configured", "default_telemetry"]

_log = logging.getLogger("zoho_locking")
_NAME = "zoho_locking"
# The HTTP client semantic conventions' advised buckets for request durations (s).
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


class Source(Protocol):
    """What the gauges read of a client: its flow's limit and the credits left."""

    @property
    def credits_remaining(self) -> int | None: ...

    @property
    def concurrency_limit(self) -> int | None: ...

    @property
    def api_domain(self) -> str | None: ...


def available() -> bool:
    """Whether ``opentelemetry-api`` can be imported (nothing is imported to find out)."""
    try:
        return all(
            importlib.util.find_spec(name) is not None
            for name in ("opentelemetry", "opentelemetry.trace", "opentelemetry.metrics")
        )
    except (ImportError, ValueError):
        return False


_DEFAULT: Telemetry | None = None


def configured() -> bool:
    """Whether the application set a global tracer or meter provider (an SDK's, say).

    Until it does, the API hands out stand-ins that record nothing.
    """
    from opentelemetry import metrics, trace

    tracing = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    # The API's stand-in meter provider has no public name: it is told by its class.
    metering = type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider"
    return tracing or metering


def default_telemetry(*, only_if_configured: bool = True) -> Telemetry | None:
    """The process's `Telemetry` on the global providers.

    ``None`` without the API, and (*only_if_configured*) while no global provider
    is set: a client made then records nothing and pays nothing per request.
    """
    global _DEFAULT
    if not available() or (only_if_configured and not configured()):
        return None
    if _DEFAULT is None:
        _DEFAULT = Telemetry()
    return _DEFAULT


class Telemetry:
    """Instruments and a tracer on *tracer_provider* and *meter_provider* (default: global).

    One serves any number of clients: give it to each (`LockingClient(telemetry=...)`),
    or let every client use the process's default on the global providers.

    Args:
        tracer_provider: Where the spans go (default: the global tracer provider).
        meter_provider: Where the metrics go (default: the global meter provider).
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        from opentelemetry import metrics, trace

        self.tracer = trace.get_tracer(_NAME, __version__, tracer_provider)
        meter = metrics.get_meter(_NAME, __version__, meter_provider)
        self.duration = meter.create_histogram(
            "http.client.request.duration", unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=_BUCKETS,
        )  # fmt: skip
        self.records = meter.create_counter(
            "zoho_locking.records", unit="{record}", description="Records a bulk call finished."
        )
        self.throttled = meter.create_counter(
            "zoho_locking.throttled", unit="{response}",
            description="429 answers to a busy org (not spent credits).",
        )  # fmt: skip
        self.retries = meter.create_counter(
            "zoho_locking.retries", unit="{retry}", description="Attempts sent again."
        )
        self.refreshes = meter.create_counter(
            "zoho_locking.token.refreshes", unit="{token}",
            description="New access tokens the clients started using.",
        )  # fmt: skip
        self._sources: weakref.WeakSet[Any] = weakref.WeakSet()
        meter.create_observable_gauge(
            "zoho_locking.concurrency.limit", [self._observe_limits], unit="{request}",
            description="The adaptive limit of requests in flight.",
        )  # fmt: skip
        meter.create_observable_gauge(
            "zoho_locking.credits.remaining", [self._observe_credits], unit="{credit}",
            description="The org's API credits left, as the last answer that said told.",
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"Telemetry(clients={len(self._sources)})"

    def attach(self, events: Events, source: Source) -> None:
        """Record what *events* tell, and observe *source*'s figures in the gauges."""
        self._sources.add(source)
        _Recorder(self).listen(events)

    def _observe_limits(self, _: CallbackOptions) -> Iterator[Observation]:
        return self._observe("concurrency_limit")

    def _observe_credits(self, _: CallbackOptions) -> Iterator[Observation]:
        return self._observe("credits_remaining")

    def _observe(self, figure: str) -> Iterator[Observation]:
        from opentelemetry.metrics import Observation

        for source in list(self._sources):
            value = getattr(source, figure)
            if value is not None:
                yield Observation(value, _server(source.api_domain or ""))


def _server(url: str) -> dict[str, Any]:
    """``server.address`` and ``server.port`` of *url* (never its user or password)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"server.address": parts.hostname or "", "server.port": port}


class _Recorder:
    """One client's events, turned into data points and spans."""

    __slots__ = ("_failed", "_runs", "_servers", "_telemetry")

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        # Server attributes by URL prefix: the URL is read once per host, not per request.
        self._servers: dict[str, dict[str, Any]] = {}
        self._runs: dict[int, tuple[Span, object]] = {}
        self._failed = False

    def listen(self, events: Events) -> None:
        for kind, handler in (
            (AnswerReceived, self._answered),
            (Throttled, self._throttled),
            (RetryScheduled, self._retried),
            (TokenRefreshed, self._refreshed),
            (RecordFinished, self._finished),
            (RunStarted, self._run_started),
            (RunEnded, self._run_ended),
        ):
            events.on(kind, self._guarded(handler))

    def _guarded(self, handler: Any) -> Any:
        def guarded(event: Any) -> None:
            try:
                handler(event)
            except Exception as exc:  # telemetry must never break a call or a run
                if not self._failed:
                    self._failed = True
                    _log.warning("OpenTelemetry recording failed: %s (logged once)", exc)

        return guarded

    def _attributes(self, url: str) -> dict[str, Any]:
        prefix = url[: url.find("/", url.find("//") + 2)]
        attributes = self._servers.get(prefix)
        if attributes is None:
            attributes = self._servers[prefix] = _server(url)
        return attributes

    def _answered(self, event: AnswerReceived) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        attributes = {"http.request.method": event.method, **self._attributes(event.url)}
        error = event.error
        if event.status is not None:
            attributes["http.response.status_code"] = event.status
            if event.status >= 400:
                error = str(event.status)
        if error is not None:
            attributes["error.type"] = error
        self._telemetry.duration.record(event.duration, attributes)
        end = time.time_ns()
        span = self._telemetry.tracer.start_span(
            event.method, kind=SpanKind.CLIENT, start_time=end - int(event.duration * 1e9),
            attributes={**attributes, "url.full": event.url},
        )  # fmt: skip
        if event.attempt > 1:
            span.set_attribute("http.request.resend_count", event.attempt - 1)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    def _throttled(self, event: Throttled) -> None:
        attributes = {"http.request.method": event.method, **self._attributes(event.url)}
        self._telemetry.throttled.add(1, attributes)

    def _retried(self, event: RetryScheduled) -> None:
        self._telemetry.retries.add(
            1, {"http.request.method": event.method, "zoho_locking.reason": event.reason}
        )

    def _refreshed(self, event: TokenRefreshed) -> None:
        self._telemetry.refreshes.add(1, {"zoho_locking.reason": event.reason})

    def _finished(self, event: RecordFinished) -> None:
        outcome = event.outcome
        self._telemetry.records.add(
            1,
            {
                "zoho_locking.operation": event.operation.value,
                "zoho_locking.outcome": outcome.status,
                "zoho_locking.code": outcome.code,
            },
        )

    def _run_started(self, event: RunStarted) -> None:
        from opentelemetry import context, trace

        span = self._telemetry.tracer.start_span(
            f"{event.operation.value}_many",
            attributes={
                "zoho_locking.operation": event.operation.value,
                "zoho_locking.module": event.module,
            },
        )
        # Current in the caller's task, so the workers it starts next inherit it:
        # every request's span is then a child of the run's.
        token = context.attach(trace.set_span_in_context(span))
        self._runs[event.run_id] = (span, token)

    def _run_ended(self, event: RunEnded) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        run = self._runs.pop(event.run_id, None)
        if run is None:
            return
        span, token = run
        span.set_attributes(_figures(event))
        if event.stop is not None:
            span.set_status(Status(StatusCode.ERROR, event.stop.code))
        span.end()
        context.detach(token)  # type: ignore[arg-type]


def _figures(event: RunEnded) -> dict[str, Any]:
    records = ("total", "succeeded", "failed", "skipped", "unfinished")
    figures: dict[str, Any] = {
        f"zoho_locking.records.{name}": getattr(event, name) for name in records
    }
    figures["zoho_locking.requests"] = event.requests
    return figures
