"""Memory of one bulk run, in a fresh process: ``python -m benchmarks._memory --ids N``.

Ids come from a generator and go through `lock_many` with
``keep_successes=False`` to a transport that answers at once, in process (no
sockets). Prints one JSON line: peak RSS (``ru_maxrss``) before and after the
run and, with ``--trace``, tracemalloc's peak during the run (tracing makes the
run about three times slower, so it is a separate process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoho_locking import BulkReport, LockingClient
from zoho_locking.bulk.engine import Progress

from ._common import MODULE, REASON, instant_transport, record_ids

__all__ = ["main", "measure", "measure_run"]

# Shortened out of the file names shown in the allocation list.
_ROOT = str(Path(__file__).resolve().parents[1]) + "/"
_PREFIX = sys.base_prefix + "/"


def _snapshot_at_end(count: int, top: list[str]) -> Progress:
    """A progress callback that notes the biggest live allocations after the last record."""

    def progress(done: int, total: int | None, report: BulkReport) -> None:
        if done == count and tracemalloc.is_tracing():
            stats = tracemalloc.take_snapshot().statistics("lineno")
            for stat in stats[:6]:
                where = str(stat.traceback).replace(_ROOT, "").replace(_PREFIX, "")
                top.append(f"{stat.size / 1024:10.1f} KiB  {stat.count:6d} blocks  {where}")

    return progress


async def _run(count: int, progress: Progress | None = None) -> dict[str, Any]:
    async with LockingClient(
        access_token="fake-access-token",
        api_domain="http://fake.invalid",
        allow_insecure_http=True,
        transport=instant_transport(),
    ) as client:
        report = await client.lock_many(
            MODULE, record_ids(count), reason=REASON, keep_successes=False, progress=progress
        )
    return {
        "total": report.total,
        "succeeded": report.succeeded,
        "kept_outcomes": len(report.outcomes),
        "requests": report.requests,
    }


def _max_rss_mb() -> float:
    """``ru_maxrss`` in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hwm_mb() -> float | None:
    """Peak RSS of this process's own address space (``VmHWM``), in MB.

    ``ru_maxrss`` of a process started by fork (or vfork) and exec also counts
    the parent's resident pages at the time of the fork, so when the runner
    (itself some 40 MB) starts this process, ``ru_maxrss`` can never read lower
    than the runner's size. ``VmHWM`` starts afresh at exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def measure_run(
    count: int, run: Callable[[Progress | None], dict[str, Any]], *, trace: bool
) -> tuple[float, float, dict[str, Any]]:
    """Time *run* over *count* ids and note its memory: CPU s, wall s, and the figures in MB.

    *run* gets a progress callback with *trace* (tracemalloc on: the largest
    allocations after the last record), None without. The figures, in this
    order: ``ru_maxrss`` before and after, *run*'s report, peak RSS before and
    after (``VmHWM``, else ``ru_maxrss``) and which of the two it is, and with
    *trace* tracemalloc's peak and end and those allocations.
    """
    baseline, baseline_hwm = _max_rss_mb(), _hwm_mb()
    if trace:
        tracemalloc.start()
    top: list[str] = []
    cpu, wall = time.process_time(), time.perf_counter()
    report = run(_snapshot_at_end(count, top) if trace else None)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    figures: dict[str, Any] = {
        "ru_maxrss_before_mb": round(baseline, 1),
        "ru_maxrss_mb": round(_max_rss_mb(), 1),
        "report": report,
    }
    hwm = _hwm_mb()
    # VmHWM where Linux provides it (see _hwm_mb), ru_maxrss elsewhere.
    figures["rss_before_mb"] = round(baseline_hwm if baseline_hwm is not None else baseline, 1)
    figures["peak_rss_mb"] = round(hwm if hwm is not None else figures["ru_maxrss_mb"], 1)
    figures["peak_rss_source"] = "VmHWM" if hwm is not None else "ru_maxrss"
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        figures["traced_peak_mb"] = round(peak / 2**20, 2)
        figures["traced_end_mb"] = round(current / 2**20, 2)
        figures["largest_at_last_record"] = top
    return cpu, wall, figures


def measure(count: int, *, trace: bool) -> dict[str, Any]:
    """Run *count* ids through the engine; return peak memory figures in MB."""
    asyncio.run(_run(1000))  # warm up: every module loaded, every cache filled
    cpu, wall, figures = measure_run(
        count, lambda progress: asyncio.run(_run(count, progress)), trace=trace
    )
    return {
        "ids": count,
        "traced": trace,
        "elapsed_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        **figures,
    }


def main() -> None:
    """Parse the command line, measure, print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._memory")
    parser.add_argument("--ids", type=int, required=True, help="how many ids to run")
    parser.add_argument("--trace", action="store_true", help="also measure with tracemalloc")
    args = parser.parse_args()
    json.dump(measure(args.ids, trace=args.trace), sys.stdout)
    print()


if __name__ == "__main__":
    main()
