"""Event hooks and OpenTelemetry: what they are told agrees with the server and the report.

The OpenTelemetry SDK records into memory (an in-memory metric reader and span
exporter) through providers given to `Telemetry`, so nothing global changes
for the other tests; one test runs the global-provider path in a process of its own.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from zoho_locking import LockingClient, RetryPolicy
from zoho_locking.events import (
    AnswerReceived,
    RecordFinished,
    RequestSent,
    RetryScheduled,
    RunEnded,
    RunStarted,
    Throttled,
)
from zoho_locking.otel import Telemetry
from zoho_locking.testing import FakeCRM, FakeServer, Faults

SECRET = "1000.telemetrysecret.tokenvalue"


class Otel:
    """An SDK tracer and meter provider recording into memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        found = []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def otel() -> Iterator[Otel]:
    recorder = Otel()
    yield recorder
    recorder.tracer_provider.shutdown()
    recorder.meter_provider.shutdown()


@pytest_asyncio.fixture
async def busy_server() -> AsyncIterator[FakeServer]:
    """300 deals behind an org allowing 4 in flight, 5% of answers 500."""
    crm = FakeCRM()
    crm.add_token(SECRET)
    crm.add_records("Deals", 300)
    crm.faults = Faults(error_500_rate=0.05, seed=7)
    async with FakeServer(crm, concurrency_limit=4, latency=0.02) as server:
        yield server


def _client(server: FakeServer, **options: Any) -> LockingClient:
    return LockingClient(
        access_token=SECRET, api_domain=server.url, max_concurrency=8,
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05), **options,
    )  # fmt: skip


async def test_counts_in_metrics_and_spans_equal_the_servers_and_the_report(
    busy_server: FakeServer, otel: Otel
) -> None:
    crm = busy_server.crm
    tracer = otel.tracer_provider.get_tracer("the caller")
    async with _client(busy_server, telemetry=otel.telemetry) as client:
        with tracer.start_as_current_span("close the quarter") as outer:
            report = await client.lock_many("Deals", crm.record_ids("Deals"), reason="q4")
    assert report.succeeded == 300, report.summary()
    arrived = len(busy_server.arrivals)
    refused = busy_server.too_many_requests
    errors = sum(1 for r in crm.requests if r.status == 500)
    assert refused > 0 and errors > 0  # the run met both, or it proves nothing

    spans = otel.finished()
    requests = [s for s in spans if s.kind is SpanKind.CLIENT]
    statuses = Counter(s.attributes["http.response.status_code"] for s in requests)
    assert len(requests) == arrived == report.requests
    assert statuses[429] == refused == report.throttled
    assert statuses[500] == errors
    by_status: Counter[int] = Counter()
    for point in otel.points("http.client.request.duration"):
        by_status[point.attributes["http.response.status_code"]] += point.count
    assert sum(by_status.values()) == arrived and by_status[429] == refused
    (throttled,) = otel.points("zoho_locking.throttled")
    assert throttled.value == refused
    retries = sum(p.value for p in otel.points("zoho_locking.retries"))
    assert retries == report.retries
    outcomes = {p.attributes["zoho_locking.outcome"]: p.value for p in otel.points(
        "zoho_locking.records")}  # fmt: skip
    assert outcomes == {"succeeded": report.succeeded}

    # Requests nest under the run's span, the run's under the caller's.
    (run,) = [s for s in spans if s.name == "lock_many"]
    assert run.parent is not None and run.parent.span_id == outer.get_span_context().span_id
    assert {s.parent.span_id for s in requests if s.parent} == {run.context.span_id}
    assert run.attributes["zoho_locking.records.succeeded"] == 300
    resent = [s for s in requests if "http.request.resend_count" in s.attributes]
    assert len(resent) == report.retries
    for span in requests:
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["server.port"] == busy_server.port
        assert span.name == "POST"
    (limit,) = otel.points("zoho_locking.concurrency.limit")
    assert 1 <= limit.value <= 8


async def test_single_calls_are_children_of_the_callers_span(otel: Otel) -> None:
    crm = FakeCRM()
    (deal,) = crm.add_records("Deals", 1)
    tracer = otel.tracer_provider.get_tracer("the caller")
    async with FakeServer(crm) as server, LockingClient(
        access_token=FakeCRM.DEFAULT_TOKEN, api_domain=server.url, telemetry=otel.telemetry
    ) as client:
        with tracer.start_as_current_span("handle request") as outer:
            lock = await client.lock("Deals", deal, reason="negotiating")
            await client.unlock("Deals", deal, lock.id)
    requests = [s for s in otel.finished() if s.kind is SpanKind.CLIENT]
    assert [s.name for s in requests] == ["POST", "DELETE"]
    assert all(s.parent and s.parent.span_id == outer.get_span_context().span_id
               for s in requests)  # fmt: skip
    assert [s.attributes["http.response.status_code"] for s in requests] == [201, 200]


async def test_credits_gauge_and_no_secret_anywhere(otel: Otel) -> None:
    crm = FakeCRM(credits=1000)
    crm.add_token(SECRET)
    ids = crm.add_records("Deals", 20)
    async with FakeServer(crm) as server, _client(server, telemetry=otel.telemetry) as client:
        await client.lock_many("Deals", ids, reason="r")
        credits = client.credits_remaining
    assert credits is not None and credits < 1000
    (gauge,) = otel.points("zoho_locking.credits.remaining")
    assert gauge.value == credits
    everything = repr([(s.name, dict(s.attributes or {}), s.events) for s in otel.finished()])
    everything += repr(otel.reader.get_metrics_data())
    assert SECRET not in everything and "telemetrysecret" not in everything


async def test_hooks_hear_typed_events_and_a_failing_hook_breaks_nothing(
    busy_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[Any] = []
    awaited: list[Any] = []

    def plain(event: Any) -> None:
        heard.append(event)

    async def later(event: Any) -> None:
        await asyncio.sleep(0)
        awaited.append(event)

    def broken(event: Any) -> None:
        raise RuntimeError("a hook with a bug")

    ids = busy_server.crm.record_ids("Deals")[:60]
    async with _client(busy_server, hooks=[plain, broken], telemetry=False) as client:
        client.add_hook(later)
        report = await client.lock_many("Deals", ids, reason="r")
    assert report.succeeded == 60  # the broken hook cost nothing
    assert len(awaited) == len(heard)  # every async hook finished before the close
    kinds = Counter(type(event) for event in heard)
    assert kinds[RequestSent] == kinds[AnswerReceived] == report.requests
    assert kinds[RetryScheduled] == report.retries
    assert kinds[Throttled] == report.throttled
    assert kinds[RecordFinished] == 60 and kinds[RunStarted] == kinds[RunEnded] == 1
    (ended,) = [e for e in heard if isinstance(e, RunEnded)]
    assert (ended.total, ended.succeeded, ended.requests) == (60, 60, report.requests)
    failures = [r for r in caplog.records if "a hook with a bug" in r.getMessage()]
    assert len(failures) == 1 and failures[0].levelno == logging.WARNING
    assert all(SECRET not in repr(event) for event in heard)


async def test_the_flows_figures_are_public_on_the_client(busy_server: FakeServer) -> None:
    seen: list[tuple[int | None, int | None]] = []
    async with _client(busy_server, telemetry=False) as client:
        client.add_hook(
            lambda e: seen.append((client.concurrency_limit, client.in_flight))
            if isinstance(e, RequestSent) else None
        )  # fmt: skip
        assert (client.concurrency_limit, client.in_flight) == (8, 0)
        await client.lock_many("Deals", busy_server.crm.record_ids("Deals")[:100], reason="r")
        assert client.in_flight == 0
    assert max(count for _, count in seen if count is not None) > 1
    assert min(limit for limit, _ in seen if limit is not None) < 8  # the 429s cut it


def test_without_a_provider_set_a_client_listens_to_nothing() -> None:
    """The API alone hands out stand-ins: a client made then builds no event per request."""
    from opentelemetry import trace

    from zoho_locking.otel import configured

    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # the tests set none
    assert not configured()
    client = LockingClient(access_token="t", dc="us")
    events = client._exchange.events
    assert not events.wants(AnswerReceived) and not events.wants(RecordFinished)
    forced = LockingClient(access_token="t", dc="us", telemetry=True)
    assert forced._exchange.events.wants(AnswerReceived)


def test_the_global_providers_are_used_and_nothing_is_paid_without_the_api() -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        from zoho_locking import LockingClient, MockTransport, Response

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        body = (b'{"data":[{"code":"SUCCESS","details":{"id":"7"},'
                b'"message":"m","status":"success"}]}')

        async def main():
            transport = MockTransport(lambda request, auth: Response(201, {}, body))
            async with LockingClient(access_token="t", dc="us", transport=transport) as c:
                await c.lock("Deals", "1", reason="r")

        asyncio.run(main())
        print(len(exporter.get_finished_spans()))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    blocked = textwrap.dedent(
        """
        import asyncio, sys

        class NoOtel:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ModuleNotFoundError(name)
                return None

        sys.meta_path.insert(0, NoOtel())
        from zoho_locking import LockingClient, MockTransport, Response
        body = (b'{"data":[{"code":"SUCCESS","details":{"id":"7"},'
                b'"message":"m","status":"success"}]}')

        async def main():
            transport = MockTransport(lambda request, auth: Response(201, {}, body))
            async with LockingClient(access_token="t", dc="us", transport=transport) as c:
                print((await c.lock("Deals", "1", reason="r")).id)

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    done = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["7", "[]"]
