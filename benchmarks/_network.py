"""Scenarios over loopback HTTP against the fake CRM in a separate process.

1. overhead: `lock_many` versus a plain aiohttp loop, same requests, same concurrency;
2. saturation: server latency 50 ms, limit 20, client cap 20;
3. overload: the same server, client cap 40;
4. limiter: ``rate_limit=100`` over 3,000 requests.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from zoho_locking import LockingClient
from zoho_locking.http.transport import AiohttpTransport, Response
from zoho_locking.wire import protocol
from zoho_locking.wire.protocol import Request

from ._common import FIRST_ID, LOCK_BODY, MODULE, REASON, max_in_window, record_ids

__all__ = [
    "ServerProcess",
    "limiter",
    "overhead",
    "overload",
    "run_library",
    "run_raw",
    "run_transport",
    "saturation",
]

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    """The fake CRM running in a child process (`benchmarks._server`)."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, token: str) -> None:
        self._process = process
        self.url = url
        self.token = token
        self._cpu_at_reset = 0.0

    @classmethod
    async def start(cls) -> ServerProcess:
        """Start the child process and wait until it listens."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks._server",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env,
        )  # fmt: skip
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line:
            raise RuntimeError("the benchmark server did not start")
        hello = json.loads(line)
        return cls(process, hello["url"], hello["token"])

    async def _call(self, **command: Any) -> dict[str, Any]:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(command).encode() + b"\n")
        await stdin.drain()
        line = await asyncio.wait_for(stdout.readline(), 60)
        if not line:
            raise RuntimeError("the benchmark server went away")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def reset(self, *, records: int, latency: float = 0.0, limit: int | None = None) -> None:
        """Give the server a fresh org of *records* records and zeroed counters."""
        reply = await self._call(
            op="reset", records=[FIRST_ID, records], latency=latency, limit=limit
        )
        self._cpu_at_reset = float(reply["cpu"])

    async def stats(self) -> dict[str, Any]:
        """What the server saw since the last reset; ``cpu`` is its CPU seconds since then."""
        reply = await self._call(op="stats")
        reply["cpu"] = float(reply["cpu"]) - self._cpu_at_reset
        return reply

    async def close(self) -> None:
        """Stop the child process."""
        try:
            await asyncio.wait_for(self._call(op="quit"), 10)
            await asyncio.wait_for(self._process.wait(), 10)
        except (TimeoutError, RuntimeError, ConnectionError):
            self._process.kill()
            await self._process.wait()


class _RecordingTransport:
    """Wrap a transport and note the loop time at which each request leaves."""

    def __init__(self, inner: AiohttpTransport, sends: list[float]) -> None:
        self._inner = inner
        self._sends = sends
        self._clock = asyncio.get_running_loop().time

    async def send(self, request: Request, auth_headers: Mapping[str, str]) -> Response:
        self._sends.append(self._clock())
        return await self._inner.send(request, auth_headers)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _cpu() -> tuple[float, float]:
    """User and system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _loop_result(
    statuses: collections.Counter[int],
    elapsed: float,
    cpu: tuple[float, float],
    stats: dict[str, Any],
) -> dict[str, Any]:
    """The figures of a hand-written loop (one request per record)."""
    requests = sum(statuses.values())
    return {
        "records": requests,
        "statuses": {str(key): value for key, value in statuses.items()},
        "requests": requests,
        "elapsed_s": round(elapsed, 3),
        "records_per_s": round(requests / elapsed, 1),
        "requests_per_s": round(requests / elapsed, 1),
        **_cpu_fields(cpu, elapsed, requests),
        "server": _server_view(stats),
    }


def _cpu_fields(before: tuple[float, float], elapsed: float, requests: int) -> dict[str, Any]:
    user, system = (after - start for after, start in zip(_cpu(), before, strict=True))
    return {
        "client_cpu_s": round(user + system, 3),
        "client_cpu_us_per_request": _per_request(user + system, requests),
        "client_user_us_per_request": _per_request(user, requests),
        "client_system_us_per_request": _per_request(system, requests),
        # CPU seconds per wall second: near 1.0 means the client was the bottleneck.
        "client_busy": round((user + system) / elapsed, 2) if elapsed else 0.0,
    }


def _per_request(seconds: float, requests: int) -> float:
    return round(seconds / requests * 1e6, 1) if requests else 0.0


def _server_view(stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "requests": stats["requests"],
        "too_many_requests": stats["too_many_requests"],
        "peak_in_flight": stats["peak_in_flight"],
        "max_in_window_1s": stats["max_in_window_1s"],
        "cpu_s": round(stats["cpu"], 3),
        "cpu_us_per_request": _per_request(stats["cpu"], stats["requests"]),
        "status_counts": stats["status_counts"],
    }


async def run_library(
    server: ServerProcess,
    count: int,
    *,
    concurrency: int,
    adaptive: bool = True,
    rate_limit: float | None = None,
    latency: float = 0.0,
    limit: int | None = None,
    record_sends: bool = False,
) -> dict[str, Any]:
    """Lock *count* fresh records with `lock_many`; return what the client and server saw."""
    await server.reset(records=count, latency=latency, limit=limit)
    sends: list[float] = []
    transport = (
        _RecordingTransport(AiohttpTransport(pool_size=concurrency), sends)
        if record_sends
        else None
    )
    async with LockingClient(
        access_token=server.token,
        api_domain=server.url,
        max_concurrency=concurrency,
        adaptive_concurrency=adaptive,
        rate_limit=rate_limit,
        transport=transport,
    ) as client:
        cpu, started = _cpu(), time.perf_counter()
        report = await client.lock_many(MODULE, record_ids(count), reason=REASON)
        elapsed = time.perf_counter() - started
    stats = await server.stats()
    result: dict[str, Any] = {
        "records": report.total,
        "succeeded": report.succeeded,
        "failed": report.failed,
        "by_code": dict(report.by_code),
        "requests": report.requests,
        "retries": report.retries,
        "throttled": report.throttled,
        "elapsed_s": round(elapsed, 3),
        "records_per_s": round(report.total / elapsed, 1),
        "requests_per_s": round(report.requests / elapsed, 1),
        **_cpu_fields(cpu, elapsed, report.requests),
        "latency_ms": dict(report.latency_ms),
        "server": _server_view(stats),
    }
    if record_sends:
        result["client_max_in_window_1s"] = max_in_window(sends)
        result["client_sends"] = len(sends)
        gaps = [later - earlier for earlier, later in itertools.pairwise(sends)]
        if gaps:
            result["client_mean_gap_ms"] = round(statistics.fmean(gaps) * 1000, 3)
            result["client_min_gap_ms"] = round(min(gaps) * 1000, 3)
    if report.succeeded != count:
        result["warning"] = f"only {report.succeeded} of {count} records were locked"
    return result


async def run_raw(
    server: ServerProcess,
    count: int,
    *,
    concurrency: int,
    latency: float = 0.0,
    limit: int | None = None,
    timings: bool = False,
) -> dict[str, Any]:
    """The baseline: plain aiohttp, *concurrency* workers pulling ids from one iterator.

    With *timings*, each request's duration is noted too (not in the overhead runs,
    where the loop must stay bare).
    """
    await server.reset(records=count, latency=latency, limit=limit)
    headers = {
        "Authorization": f"Zoho-oauthtoken {server.token}",
        "Content-Type": "application/json",
    }
    base = f"{server.url}/crm/v8/{MODULE}"
    statuses: collections.Counter[int] = collections.Counter()
    ids: Iterator[str] = record_ids(count)

    durations: list[float] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        for record_id in ids:
            url = f"{base}/{record_id}/Locking_Information__s"
            async with session.post(url, data=LOCK_BODY, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] += 1

    async def timed_worker(session: aiohttp.ClientSession) -> None:
        clock = time.perf_counter
        for record_id in ids:
            url = f"{base}/{record_id}/Locking_Information__s"
            sent = clock()
            async with session.post(url, data=LOCK_BODY, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] += 1
            durations.append(clock() - sent)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        cpu, started = _cpu(), time.perf_counter()
        work = timed_worker if timings else worker
        await asyncio.gather(*(work(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    result = _loop_result(statuses, elapsed, cpu, await server.stats())
    if durations:
        cuts = statistics.quantiles(durations, n=100)
        result["latency_ms"] = {
            "p50": round(cuts[49] * 1000, 2),
            "p90": round(cuts[89] * 1000, 2),
            "p99": round(cuts[98] * 1000, 2),
            "mean": round(statistics.fmean(durations) * 1000, 2),
            "min": round(min(durations) * 1000, 2),
        }
    if statuses.get(201, 0) != count:
        result["warning"] = f"only {statuses.get(201, 0)} of {count} answers were 201"
    return result


async def run_transport(server: ServerProcess, count: int, *, concurrency: int) -> dict[str, Any]:
    """The raw loop again, but sending through the library's `AiohttpTransport`.

    Sits between the raw loop and `lock_many`: it tells how much of the
    library's cost is its aiohttp set-up and how much is everything above it.
    """
    await server.reset(records=count)
    transport = AiohttpTransport(pool_size=concurrency)
    auth = protocol.authorization(server.token)
    root = f"{server.url}/crm/v8"
    statuses: collections.Counter[int] = collections.Counter()
    ids: Iterator[str] = record_ids(count)

    async def worker() -> None:
        for record_id in ids:
            response = await transport.send(
                protocol.build_lock(root, MODULE, record_id, REASON), auth
            )
            statuses[response.status] += 1

    try:
        cpu, started = _cpu(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await transport.aclose()
    return _loop_result(statuses, elapsed, cpu, await server.stats())


OVERHEAD_KINDS = ("raw", "transport", "library_adaptive", "library_fixed")


async def _overhead_run(
    server: ServerProcess, kind: str, records: int, concurrency: int
) -> dict[str, Any]:
    if kind == "raw":
        return await run_raw(server, records, concurrency=concurrency)
    if kind == "transport":
        return await run_transport(server, records, concurrency=concurrency)
    adaptive = kind == "library_adaptive"
    return await run_library(server, records, concurrency=concurrency, adaptive=adaptive)


async def overhead(
    server: ServerProcess, *, records: int, rounds: int, concurrency: int
) -> dict[str, Any]:
    """Library versus raw aiohttp, alternately, *rounds* times; no latency, no limits."""
    kinds = OVERHEAD_KINDS
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for kind in kinds:  # warm every path up: imports, pools, caches
        await _overhead_run(server, kind, 500, concurrency)
    for round_ in range(rounds):
        # Rotate the order so that no kind always runs first or last.
        shift = round_ % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            run = await _overhead_run(server, kind, records, concurrency)
            run["round"] = round_ + 1
            runs[kind].append(run)
            print(f"  overhead round {round_ + 1} {kind}: {run['records_per_s']:.0f}/s", flush=True)

    def median_of(kind: str, key: str) -> float:
        return round(float(statistics.median(run[key] for run in runs[kind])), 1)

    def ratios(kind: str) -> list[float]:
        # Each round's runs are neighbours in time, so their ratio cancels slow drifts
        # in what else the machine is doing.
        return [
            round(run["records_per_s"] / raw["records_per_s"], 3)
            for run, raw in zip(runs[kind], runs["raw"], strict=True)
        ]

    summary: dict[str, Any] = {"records": records, "rounds": rounds, "concurrency": concurrency}
    for kind in kinds:
        summary[f"{kind}_per_s"] = median_of(kind, "records_per_s")
        summary[f"{kind}_client_cpu_us"] = median_of(kind, "client_cpu_us_per_request")
        summary[f"{kind}_client_busy"] = median_of(kind, "client_busy")
        summary[f"{kind}_server_cpu_us"] = round(
            statistics.median(run["server"]["cpu_us_per_request"] for run in runs[kind]), 1
        )
        # CPU seconds per wall second: near 1.0 means that process was the bottleneck.
        summary[f"{kind}_server_busy"] = round(
            statistics.median(run["server"]["cpu_s"] / run["elapsed_s"] for run in runs[kind]), 2
        )
    for kind in kinds[1:]:
        name = kind.removeprefix("library_")
        summary[f"ratios_{name}"] = ratios(kind)
        summary[f"ratio_{name}"] = round(statistics.median(ratios(kind)), 3)
        # What the ratio would be if the client's CPU alone set the pace.
        summary[f"cpu_ratio_{name}"] = round(
            summary["raw_client_cpu_us"] / summary[f"{kind}_client_cpu_us"], 3
        )
    summary["ratio"] = summary["ratio_adaptive"]
    summary["runs"] = runs
    return summary


async def saturation(server: ServerProcess, *, records: int) -> dict[str, Any]:
    """Server latency 50 ms and limit 20, client cap 20: requests per second versus 400."""
    run = await run_library(server, records, concurrency=20, latency=0.05, limit=20)
    ideal = 20 / 0.05
    run["ideal_per_s"] = ideal
    run["share_of_ideal"] = round(run["requests_per_s"] / ideal, 4)
    # What this server and loopback allow at all: plain aiohttp, 20 workers, no library.
    raw = await run_raw(server, records, concurrency=20, latency=0.05, limit=20, timings=True)
    raw["share_of_ideal"] = round(raw["requests_per_s"] / ideal, 4)
    run["raw_reference"] = raw
    return run


async def overload(server: ServerProcess, *, records: int, contrast: bool) -> dict[str, Any]:
    """The same server, client cap 40: throughput and 429s (and without adaptation, if asked)."""
    run = await run_library(server, records, concurrency=40, latency=0.05, limit=20)
    ideal = 20 / 0.05
    run["ideal_per_s"] = ideal
    run["share_of_ideal"] = round(run["records_per_s"] / ideal, 4)
    seen = run["server"]["requests"]
    run["share_429"] = round(run["server"]["too_many_requests"] / seen, 4) if seen else 0.0
    if contrast:
        fixed = await run_library(
            server, records, concurrency=40, latency=0.05, limit=20, adaptive=False
        )
        seen = fixed["server"]["requests"]
        fixed["share_of_ideal"] = round(fixed["records_per_s"] / ideal, 4)
        fixed["share_429"] = round(fixed["server"]["too_many_requests"] / seen, 4) if seen else 0.0
        run["adaptive_off"] = fixed
    return run


async def limiter(server: ServerProcess, *, requests: int, rate: float) -> dict[str, Any]:
    """``rate_limit=rate`` over *requests* requests: achieved rate and the busiest second."""
    run = await run_library(server, requests, concurrency=10, rate_limit=rate, record_sends=True)
    stats = run["server"]
    run["rate_limit"] = rate
    run["achieved_per_s"] = run["requests_per_s"]
    run["deviation"] = round(run["requests_per_s"] / rate - 1, 4)
    run["server_max_in_window_1s"] = stats["max_in_window_1s"]
    return run
