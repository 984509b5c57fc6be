"""CPU time per request in process (no sockets), and the profile that explains it.

Every run is answered by a function (`MockTransport`), either at once or after
one trip through the event loop (as a real answer comes: the task suspends and
others run meanwhile), so what is measured is the client's own work per
request: for the library, validation, building the request, flow control, the
retry loop, parsing the answer, the bulk engine's reading of ids and workers,
and the report; for the baseline, the least an asyncio program must do to send
the same request and read the answer.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any

from zoho_locking import LockingClient
from zoho_locking.http.transport import MockTransport, Response
from zoho_locking.wire.protocol import Request

from ._common import LOCK_BODY, MODULE, OK_BODY, REASON, instant_transport, record_ids

__all__ = ["cpu_per_request", "profile_library"]

_DOMAIN = "http://fake.invalid"
#: How the in-process responder answers: at once, or after one trip through the event
#: loop (as a real answer does: the task suspends and other tasks run meanwhile).
MODES = ("instant", "yielding")


async def _yielding_answer(request: Request, auth: Mapping[str, str]) -> Response:
    await asyncio.sleep(0)
    return Response(201, {}, OK_BODY)


def _client(concurrency: int, mode: str) -> LockingClient:
    transport = instant_transport() if mode == "instant" else MockTransport(_yielding_answer)
    return LockingClient(
        access_token="fake-access-token",
        api_domain=_DOMAIN,
        allow_insecure_http=True,
        max_concurrency=concurrency,
        transport=transport,
    )


async def _library_bulk(count: int, concurrency: int, mode: str) -> int:
    async with _client(concurrency, mode) as client:
        report = await client.lock_many(
            MODULE, record_ids(count), reason=REASON, keep_successes=False
        )
    assert report.succeeded == count, report.by_code
    return report.requests


async def _library_single(count: int, concurrency: int, mode: str) -> int:
    ids = record_ids(count)
    async with _client(concurrency, mode) as client:

        async def worker() -> None:
            for record_id in ids:
                await client.lock(MODULE, record_id, reason=REASON)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count


async def _baseline(count: int, concurrency: int, mode: str) -> int:
    """The minimal loop: workers pull ids, build the URL, 'send', parse the JSON answer."""
    headers = {"Authorization": "Zoho-oauthtoken fake-access-token"}
    yielding = mode == "yielding"

    async def send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if yielding:
            await asyncio.sleep(0)
        return 201, OK_BODY

    ids: Iterator[str] = record_ids(count)
    done = 0

    async def worker() -> None:
        nonlocal done
        for record_id in ids:
            url = f"{_DOMAIN}/crm/v8/{MODULE}/{record_id}/Locking_Information__s"
            status, body = await send(url, LOCK_BODY, headers)
            if status == 201 and json.loads(body)["data"][0]["details"]["id"]:
                done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


KINDS: dict[str, Callable[[int, int, str], Coroutine[Any, Any, int]]] = {
    "library_lock_many": _library_bulk,
    "library_single_lock": _library_single,
    "baseline": _baseline,
}


def _measure(kind: str, mode: str, count: int, concurrency: int) -> dict[str, float]:
    run = KINDS[kind]
    asyncio.run(run(min(count, 2000), concurrency, mode))  # warm up
    cpu, wall = time.process_time(), time.perf_counter()
    requests = asyncio.run(run(count, concurrency, mode))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "requests": requests,
        "cpu_s": round(cpu, 3),
        "cpu_us_per_request": round(cpu / requests * 1e6, 2),
        "requests_per_s": round(requests / wall, 1),
    }


def cpu_per_request(*, requests: int, concurrency: int, repeats: int) -> dict[str, Any]:
    """CPU microseconds per request, best of *repeats*, for the library and the baseline."""
    results: dict[str, Any] = {
        "requests": requests,
        "concurrency": concurrency,
        "repeats": repeats,
    }
    for mode in MODES:
        results[mode] = {}
        for kind in KINDS:
            runs = [_measure(kind, mode, requests, concurrency) for _ in range(repeats)]
            results[mode][kind] = min(runs, key=lambda run: run["cpu_us_per_request"])
        library = results[mode]["library_lock_many"]["cpu_us_per_request"]
        baseline = results[mode]["baseline"]["cpu_us_per_request"]
        results[mode]["library_overhead_us"] = round(library - baseline, 2)
    # The headline: the responder, which answers at once.
    results["library_overhead_us"] = results["instant"]["library_overhead_us"]
    return results


def profile_library(*, requests: int, concurrency: int, top: int = 25) -> str:
    """cProfile of `lock_many` (yielding responder): own time by file, then by function."""
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(_library_bulk(requests, concurrency, "yielding"))
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_file: dict[str, float] = {}
    raw_stats: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, own, _, _) in raw_stats.items():
        short = "/".join(filename.split("/")[-2:]) if "/" in filename else filename
        short = "builtins" if short == "~" else short
        by_file[short] = by_file.get(short, 0.0) + own
    total = sum(by_file.values()) or 1.0
    out = io.StringIO()
    out.write(f"Own time by file ({requests:,} requests):\n")
    for name, own in sorted(by_file.items(), key=lambda item: -item[1])[:12]:
        out.write(f"  {own / total:6.1%}  {name}\n")
    out.write("\n")
    stats.stream = out  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()
