"""A bulk run in a fresh process, for its memory and CPU: ``python -m benchmarks._memchild``.

``--ids N --source S [--trace] [--curve K]``: `lock_many(keep_successes=False)` over N ids
from S (a generator, async generators, or ``client.select_ids`` whose pages the handler
builds from the query's ``id > N`` bound and LIMIT), answered at once in process; prints
one JSON line: peak RSS (``VmHWM``), times, loop turns, tracemalloc, RSS at K points.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Mapping
from typing import Any

from zoho_locking import BulkReport, LockingClient, MockTransport, Response

from ._common import FIRST_ID, MODULE, OK_BODY, REASON, ROOT, record_ids
from ._lib import COQL_PAGE

CONDITION = "Amount >= 40000 and Closing_Date < '2025-07-01'"
SOURCES = ("selection", "plain", "async", "async-pausing")
_BOUND, _LIMIT = re.compile(r"\bid > (\d+)"), re.compile(r"\blimit (\d+)\s*$", re.IGNORECASE)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def _transport(count: int, tally: dict[str, int]) -> MockTransport:
    stop = FIRST_ID + count

    def handle(request: Any, auth: Mapping[str, str]) -> Response:
        if not request.url.endswith("/coql"):
            return Response(201, {}, OK_BODY)
        query = json.loads(request.body)["select_query"]
        bound, limit = _BOUND.search(query), _LIMIT.search(query)
        assert CONDITION in query and limit is not None, query
        first = int(bound[1]) + 1 if bound is not None else FIRST_ID
        last = min(first + int(limit[1]), stop)
        tally["pages"] += 1
        if first >= stop:
            return Response(204, {}, b"")
        tally["largest_page"] = max(tally["largest_page"], last - first)
        doc = {"data": [{"id": str(i)} for i in range(first, last)],
               "info": {"count": last - first, "more_records": last < stop}}  # fmt: skip
        return Response(200, {"Content-Type": "application/json"}, json.dumps(doc).encode())

    return MockTransport(handle)


async def _async_ids(count: int, pause_every: int = 0) -> AsyncIterator[str]:
    for n, record_id in enumerate(record_ids(count)):
        if pause_every and n % pause_every == 0:
            await asyncio.sleep(0)
        yield record_id


async def _run(count: int, source: str, progress: Any = None) -> dict[str, Any]:
    tally = {"pages": 0, "largest_page": 0}
    async with LockingClient(
        access_token="fake-access-token", api_domain="http://fake.invalid",
        allow_insecure_http=True, transport=_transport(count, tally),
    ) as client:  # fmt: skip
        ids: Any = {
            "selection": lambda: client.select_ids(MODULE, CONDITION),
            "plain": lambda: record_ids(count),
            "async": lambda: _async_ids(count),
            "async-pausing": lambda: _async_ids(count, COQL_PAGE),
        }[source]()
        report = await client.lock_many(
            MODULE, ids, reason=REASON, keep_successes=False, progress=progress
        )
    return {"total": report.total, "succeeded": report.succeeded,
            "kept_outcomes": len(report.outcomes), "requests": report.requests,
            "query_requests": report.query_requests, **tally}  # fmt: skip


def measure(count: int, source: str, *, trace: bool, curve: int) -> dict[str, Any]:
    """Run *count* ids from *source*; memory in MB, times in seconds."""
    asyncio.run(_run(1000, source))  # warm up: every module loaded, every cache filled
    before, top, points = _status_mb("VmHWM:"), [], []
    step = max(1, count // curve) if curve else 0

    def progress(done: int, total: int | None, report: BulkReport) -> None:
        if step and done % step == 0:
            points.append((done, round(_status_mb("VmRSS:"), 2)))
        if done == count and trace:
            for stat in tracemalloc.take_snapshot().statistics("lineno")[:6]:
                where = str(stat.traceback).replace(str(ROOT) + "/", "")
                where = where.replace(sys.base_prefix + "/", "")
                top.append(f"{stat.size / 1024:10.1f} KiB {stat.count:6d} blocks  {where}")

    turns = [0]
    if trace:
        tracemalloc.start()
    cpu, wall = time.process_time(), time.perf_counter()
    with asyncio.Runner() as runner:
        # Each turn of a selector loop polls once (CPython internals: else no count).
        selector = getattr(runner.get_loop(), "_selector", None)
        if selector is not None:
            select = selector.select

            def counting(timeout: float | None = None) -> Any:
                turns[0] += 1
                return select(timeout)

            selector.select = counting
        report = runner.run(_run(count, source, progress if step or trace else None))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    result = {
        "ids": count, "source": source, "traced": trace, "elapsed_s": round(wall, 3),
        "cpu_us_per_record": round(cpu / count * 1e6, 2), "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(_status_mb("VmHWM:"), 1),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loop_turns_per_record": round(turns[0] / count, 4) if selector else None,
        "report": report, "curve": points,
    }  # fmt: skip
    if trace:
        result["traced_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
        result["largest_at_last_record"] = top
        tracemalloc.stop()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks._memchild")
    parser.add_argument("--ids", type=int, required=True)
    parser.add_argument("--source", choices=SOURCES, default="plain")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--curve", type=int, default=0, metavar="K")
    args = parser.parse_args()
    print(json.dumps(measure(args.ids, args.source, trace=args.trace, curve=args.curve)))
