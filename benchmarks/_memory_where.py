"""Memory of a bulk run over a selection, in a fresh process (`benchmarks.where`, part 2).

``python -m benchmarks._memory_where --ids N [--source SOURCE] [--trace]``
runs `lock_many` with ``keep_successes=False`` over N ids and prints one JSON
line: peak RSS (``VmHWM``, see `benchmarks._memory`) before and after the run,
the run's wall and CPU time, the event loop's turns during the run, and with
``--trace`` tracemalloc's peak (a separate process: tracing slows the run down
about three times).

* ``selection``: the ids come from ``client.select_ids("Deals", CONDITION)``,
  answered in process by a `MockTransport` whose handler pages lazily: each
  COQL page is computed from the ``id > N`` bound and the ``LIMIT`` in the
  query's text (the ids ``FIRST_ID .. FIRST_ID + N - 1`` are "the matches"), so
  no list of all the ids exists anywhere; locks are answered at once.
* ``plain``: the ids come from a generator (`benchmarks._common.record_ids`), as
  in scenario 5, through the same handler: the baseline.
* ``async``: the same ids from an async generator that never suspends: it takes
  the bulk run's path for async iterables, as a selection does, without pages.
* ``async-pausing``: the same, but it suspends once every 2,000 ids
  (``asyncio.sleep(0)``), as a selection may when it awaits a page (it does at
  least for the first): a source that suspends, without any paging work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from zoho_locking import LockingClient
from zoho_locking.bulk.engine import Progress
from zoho_locking.http.transport import MockTransport, Response
from zoho_locking.wire.coql import MAX_PAGE as PAGE
from zoho_locking.wire.protocol import Request

from ._common import FIRST_ID, MODULE, OK_BODY, REASON, record_ids
from ._memory import measure_run

__all__ = ["CONDITION", "PAGE", "SOURCES", "main", "measure", "paging_transport"]

#: The condition issue 16's benchmark selects by (any condition would do here: the
#: handler below answers every query with the next ids in its range).
CONDITION = "Amount >= 40000 and Closing_Date < '2025-07-01'"
SOURCES = ("selection", "plain", "async", "async-pausing")

_BOUND = re.compile(r"\bid > (\d+)")
_LIMIT = re.compile(r"\blimit (\d+)\s*$", re.IGNORECASE)
_JSON: Mapping[str, str] = MappingProxyType({"Content-Type": "application/json"})


class _Counts:
    """What the handler answered: COQL pages, the largest page, locks."""

    def __init__(self) -> None:
        self.pages = 0
        self.largest_page = 0
        self.locks = 0


def paging_transport(count: int, counts: _Counts | None = None) -> MockTransport:
    """Answer COQL with the next page of ``FIRST_ID .. FIRST_ID + count - 1``, locks at once.

    Each page is built from the query's ``id > N`` bound (none: the first page)
    and its ``LIMIT``, and dropped once sent: the handler holds no list of ids.
    """
    stop = FIRST_ID + count
    tally = counts if counts is not None else _Counts()

    def handle(request: Request, auth: Mapping[str, str]) -> Response:
        if not request.url.endswith("/coql"):
            tally.locks += 1
            return Response(201, {}, OK_BODY)
        query = json.loads(request.body or b"{}")["select_query"]
        if CONDITION not in query:
            raise AssertionError(f"unexpected query {query!r}")
        bound, limit = _BOUND.search(query), _LIMIT.search(query)
        if limit is None:
            raise AssertionError(f"query without LIMIT: {query!r}")
        first = int(bound[1]) + 1 if bound is not None else FIRST_ID
        last = min(first + int(limit[1]), stop)
        tally.pages += 1
        if first >= stop:
            return Response(204, {}, b"")
        rows = [{"id": str(record_id)} for record_id in range(first, last)]
        tally.largest_page = max(tally.largest_page, len(rows))
        doc = {"data": rows, "info": {"count": len(rows), "more_records": last < stop}}
        return Response(200, _JSON, json.dumps(doc).encode())

    return MockTransport(handle)


async def _async_ids(count: int, *, pause_every: int = 0) -> AsyncIterator[str]:
    for n, record_id in enumerate(record_ids(count)):
        if pause_every and n % pause_every == 0:
            await asyncio.sleep(0)
        yield record_id


async def _run(count: int, source: str, progress: Progress | None = None) -> dict[str, Any]:
    counts = _Counts()
    async with LockingClient(
        access_token="fake-access-token",
        api_domain="http://fake.invalid",
        allow_insecure_http=True,
        transport=paging_transport(count, counts),
    ) as client:
        ids: Iterable[str] | AsyncIterable[str]
        if source == "selection":
            ids = client.select_ids(MODULE, CONDITION)
        elif source == "async":
            ids = _async_ids(count)
        elif source == "async-pausing":
            ids = _async_ids(count, pause_every=PAGE)
        else:
            ids = record_ids(count)
        report = await client.lock_many(
            MODULE, ids, reason=REASON, keep_successes=False, progress=progress
        )
    return {
        "total": report.total,
        "succeeded": report.succeeded,
        "kept_outcomes": len(report.outcomes),
        "requests": report.requests,
        "query_requests": report.query_requests,
        "pages_answered": counts.pages,
        "largest_page": counts.largest_page,
        "locks_answered": counts.locks,
    }


class _Turns:
    """Counts the event loop's turns: each turn polls its selector exactly once.

    Wraps ``loop._selector.select`` (CPython's selector loops; not public API, so
    without it the count is ``None``).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.count: int | None = None
        selector = getattr(loop, "_selector", None)
        select = getattr(selector, "select", None)
        if select is None:
            return
        self.count = 0

        def counting(timeout: float | None = None) -> Any:
            if self.count is not None:
                self.count += 1
            return select(timeout)

        selector.select = counting  # type: ignore[union-attr]


def _run_counting(count: int, source: str, progress: Progress | None) -> dict[str, Any]:
    with asyncio.Runner() as runner:
        turns = _Turns(runner.get_loop())
        report = runner.run(_run(count, source, progress))
    report["loop_turns"] = turns.count
    return report


def measure(count: int, *, source: str, trace: bool) -> dict[str, Any]:
    """Run *count* ids from *source* through `lock_many`; peak memory in MB, times in s."""
    asyncio.run(_run(1000, source))  # warm up: every module loaded, every cache filled
    cpu, wall, figures = measure_run(
        count, lambda progress: _run_counting(count, source, progress), trace=trace
    )
    return {
        "ids": count,
        "source": source,
        "traced": trace,
        "elapsed_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "us_per_record": round(wall / count * 1e6, 2),
        "cpu_us_per_record": round(cpu / count * 1e6, 2),
        **figures,
    }


def main() -> None:
    """Parse the command line, measure, print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._memory_where")
    parser.add_argument("--ids", type=int, required=True, help="how many ids to run")
    parser.add_argument("--source", choices=SOURCES, default="selection")
    parser.add_argument("--trace", action="store_true", help="also measure with tracemalloc")
    args = parser.parse_args()
    json.dump(measure(args.ids, source=args.source, trace=args.trace), sys.stdout)
    print()


if __name__ == "__main__":
    main()
