"""The library in this process against the fake CRM's process over loopback, next to raw aiohttp."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import statistics
import time
from collections.abc import Mapping
from typing import Any

from zoho_locking import AiohttpTransport, LockingClient, Response

from . import _rawloop
from ._common import MODULE, REASON, max_in_window, record_ids
from ._server import Server
from .harness import Context, Line, Panel, alternate, bins, median, rate, ratio

__all__ = ["limiter", "overhead", "overload", "saturation"]

LATENCY, LIMIT = 0.05, 20
IDEAL = LIMIT / LATENCY  # 400 requests/s


class _NotingTransport:
    """An `AiohttpTransport` that notes the loop time at which each request leaves."""

    def __init__(self, pool_size: int, sends: list[float]) -> None:
        self._inner, self._sends = AiohttpTransport(pool_size=pool_size), sends

    async def send(self, request: Any, auth_headers: Mapping[str, str]) -> Response:
        self._sends.append(asyncio.get_running_loop().time())
        return await self._inner.send(request, auth_headers)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _client(records: int, requests: int, elapsed: float, cpu: float) -> dict[str, Any]:
    # client_busy: CPU seconds per wall second; near 1.0, the client set the pace.
    return {"records": records, "requests": requests, "elapsed_s": round(elapsed, 3),
            "records_per_s": round(records / elapsed, 1),
            "requests_per_s": round(requests / elapsed, 1),
            "client_cpu_us": round(cpu / requests * 1e6, 1) if requests else None,
            "client_busy": round(cpu / elapsed, 2)}  # fmt: skip


def _server(
    ctx: Context, result: dict[str, Any], *, fine: bool = False, server: Server | None = None
) -> dict[str, Any]:
    stats = (server or ctx.server).stats()
    keys = ("requests", "too_many_requests", "peak_in_flight", "max_in_window_1s", "series")
    result["server"] = {key: stats[key] for key in keys} | {
        "cpu_us": round(stats["cpu"] / stats["requests"] * 1e6, 1) if stats["requests"] else 0,
        "busy": round(stats["cpu"] / result["elapsed_s"], 2)}  # fmt: skip
    if fine:  # in 10 ms bins, where in flight and 429s change within a round trip
        result["server"]["fine"] = ctx.server.stats(0.01)["series"]
    return result


def run_library(
    ctx: Context, count: int, *, concurrency: int, adaptive: bool = True,
    rate_limit: float | None = None, latency: float = 0.0, limit: int | None = None,
    record_sends: bool = False, sample: bool = False, tls: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Lock *count* fresh records with `lock_many`; what the client and the server saw.

    *record_sends*: note when each request left; *sample*: the flow's in-flight limit every 10 ms;
    *tls*: over HTTPS, to the fake certified by a test CA (verified with it).
    """
    server = ctx.tls_server if tls else ctx.server
    server.reset(count, latency=latency, limit=limit)
    sends: list[float] = []
    samples: list[tuple[float, int]] = []

    async def go() -> tuple[Any, float, float]:
        async with LockingClient(
            access_token=server.token, api_domain=server.url, rate_limit=rate_limit,
            max_concurrency=concurrency, adaptive_concurrency=adaptive, ssl=server.ca_path,
            transport=_NotingTransport(concurrency, sends) if record_sends else None,
        ) as client:  # fmt: skip
            flow: Any = client.flow

            async def sampler() -> None:
                while True:
                    samples.append((asyncio.get_running_loop().time(), flow.limit))
                    await asyncio.sleep(0.01)

            task = asyncio.create_task(sampler()) if sample else None
            cpu, started = _rawloop.cpu_s(), time.perf_counter()
            report = await client.lock_many(MODULE, record_ids(count), reason=REASON)
            if task is not None:
                task.cancel()
            return report, time.perf_counter() - started, _rawloop.cpu_s() - cpu

    report, elapsed, cpu = asyncio.run(go())
    result = _client(report.total, report.requests, elapsed, cpu) | {
        "succeeded": report.succeeded, "failed": report.failed, "retries": report.retries,
        "latency_ms": dict(report.latency_ms), "client_limit": samples,
    }  # fmt: skip
    if sends:
        gaps = [b - a for a, b in itertools.pairwise(sends)]
        result |= {"client_max_in_window_1s": max_in_window(sends),
                   "client_mean_gap_ms": round(statistics.fmean(gaps) * 1000, 3),
                   "client_min_gap_ms": round(min(gaps) * 1000, 3)}  # fmt: skip
    if report.succeeded != count:
        result["warning"] = f"only {report.succeeded} of {count} records were locked"
    return _server(ctx, result, fine=sample, server=server)


def run_raw(
    ctx: Context, count: int, *, concurrency: int, latency: float = 0.0, limit: int | None = None,
    plain: bool = False, tls: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The baseline (`benchmarks._rawloop`), in this process, with each request's duration.

    *plain*: ``json=`` body and ``await r.json()``, as most people write the loop; *tls*: over
    HTTPS, as `run_library`.
    """
    server = ctx.tls_server if tls else ctx.server
    server.reset(count, latency=latency, limit=limit)
    timed = latency > 0  # the overhead runs keep the loop bare
    loop = asyncio.run(_rawloop.run(
        server.url, server.token, record_ids(count), concurrency, timings=timed, plain=plain,
        ca_path=server.ca_path,
    ))  # fmt: skip
    result = _client(count, loop["requests"], loop["elapsed_s"], loop["cpu_s"])
    result["statuses"] = loop["statuses"]
    if timed:
        cuts, durations = statistics.quantiles(loop["durations"], n=100), loop["durations"]
        result["request_ms"] = {"mean": round(statistics.fmean(durations) * 1000, 2),
                                "p50": round(cuts[49] * 1000, 2), "p99": round(cuts[98] * 1000, 2),
                                "min": round(min(durations) * 1000, 2)}  # fmt: skip
    if loop["statuses"].get("201", 0) != count:
        result["warning"] = f"only {loop['statuses'].get('201', 0)} of {count} answers were 201"
    return _server(ctx, result, server=server)


OVERHEAD = {
    "raw": "plain aiohttp loop (`json=` body, `await r.json()`)",
    "library": "`lock_many` (defaults)",
}


def overhead(ctx: Context) -> dict[str, Any]:
    """The client's own CPU per request against a plain aiohttp loop, same process, same run.

    No latency, no limit: `time.process_time` around each run over loopback (the fake
    server's CPU is its own process's), the two alternated round by round; plain HTTP (the
    judged figure), then HTTPS as to Zoho (reported; needs ``trustme``, a test dependency).
    """
    records, concurrency = ctx.sizes["records"], ctx.sizes["concurrency"]
    figures = _overhead_rounds(ctx, records, concurrency, tls=False)
    if importlib.util.find_spec("trustme") is None:
        ctx.say("Over HTTPS: not run (`trustme` is not installed: `pip install -e '.[test]'`).")
        return figures
    tls = _overhead_rounds(ctx, records, concurrency, tls=True)
    return figures | {f"tls_{key}": value for key, value in tls.items()}


def _overhead_rounds(ctx: Context, records: int, concurrency: int, *, tls: bool) -> dict[str, Any]:
    def one(kind: str, count: int) -> dict[str, Any]:
        if kind == "raw":
            return run_raw(ctx, count, concurrency=concurrency, plain=True, tls=tls)
        return run_library(ctx, count, concurrency=concurrency, tls=tls)

    for kind in OVERHEAD:  # warm every path up: imports, pools, caches
        one(kind, 500)
    runs = {kind: lambda _n, kind=kind: one(kind, records) for kind in OVERHEAD}
    entries = ctx.data["tls_rounds" if tls else "rounds"] = alternate(
        ctx.sizes["rounds"], runs, ctx.log
    )
    cpu = {k: [e[k]["client_cpu_us"] for e in entries] for k in OVERHEAD}
    ratios = [ratio(e["raw"]["client_cpu_us"], e["library"]["client_cpu_us"]) for e in entries]
    figures: dict[str, Any] = {
        "cpu_ratio": median(ratios),
        "cpu_ratio_min": min(ratios),
        "cpu_ratio_max": max(ratios),
        "raw_cpu_us": median(cpu["raw"]),
        "library_cpu_us": median(cpu["library"]),
        "ratio": median(
            ratio(e["library"]["records_per_s"], e["raw"]["records_per_s"]) for e in entries
        ),
    }
    if tls:
        ctx.say(
            "**Over HTTPS**, as to Zoho (reported, not judged): the same rounds against the "
            "fake serving TLS on loopback with a certificate of a test CA (`trustme`), which "
            "both clients verify; the TLS work is aiohttp's and Python's, alike for both."
        )
    else:
        ctx.say(
            f"{records:,} fresh records per run, concurrency {concurrency}, no latency or limit, "
            f"{len(entries)} rounds, the order alternated. CPU per request is "
            "`time.process_time()` of this process around the run over the requests it sent; "
            "the judged figure is the median of the rounds' raw / library CPU per request over "
            "plain HTTP (above 1.00: the library needs less CPU than the plain loop)."
        )
    ctx.table(["round", "order", *(f"{label} CPU us/request" for label in OVERHEAD.values()),
               "raw / library", "library / raw rec/s"], [
        [e["round"], e["order"], *(e[k]["client_cpu_us"] for k in OVERHEAD),
         f"{ratio(e['raw']['client_cpu_us'], e['library']['client_cpu_us']):.3f}",
         f"{ratio(e['library']['records_per_s'], e['raw']['records_per_s']):.3f}"]
        for e in entries
    ])  # fmt: skip
    ctx.table(
        ["medians", "CPU us/request (min to max)", "rec/s", "client busy",
         "server CPU us/request"],
        [[label, f"{median(cpu[k])} ({min(cpu[k])} to {max(cpu[k])})",
          f"{median(e[k]['records_per_s'] for e in entries):,.0f}",
          median(e[k]["client_busy"] for e in entries),
          median(e[k]["server"]["cpu_us"] for e in entries)] for k, label in OVERHEAD.items()],
    )  # fmt: skip
    ctx.say(
        f"{'Over HTTPS, raw' if tls else 'raw'} / library CPU per request: median "
        f"{figures['cpu_ratio']:.3f}, spread "
        f"{figures['cpu_ratio_min']:.3f} to {figures['cpu_ratio_max']:.3f} over the rounds; "
        f"the library {figures['library_cpu_us'] - figures['raw_cpu_us']:+.1f} us per request "
        f"against the plain loop's {figures['raw_cpu_us']} us."
    )
    return figures


def _against_raw(ctx: Context, cap: int, per: str) -> dict[str, Any]:
    """Rounds of `lock_many` with *cap* against the raw loop with 20 workers, 50 ms, limit 20.

    Tabled, plotted and judged by the median of the rounds' ratios of *per* (``records``
    or ``requests``) per second.
    """
    records, key = ctx.sizes["records"], f"{per}_per_s"
    entries = ctx.data["rounds"] = alternate(ctx.sizes["rounds"], {
        "library": lambda _n: run_library(ctx, records, concurrency=cap, latency=LATENCY,
                                          limit=LIMIT, sample=True),
        "raw": lambda _n: run_raw(ctx, records, concurrency=LIMIT, latency=LATENCY, limit=LIMIT),
    }, ctx.log)  # fmt: skip
    ctx.say(
        f"Server latency 50 ms, limit {LIMIT}; `lock_many(max_concurrency={cap})`, adaptive, "
        f"against the raw loop with {LIMIT} workers (the server's real limit), {records:,} "
        f"records a run, {len(entries)} alternated round(s); the ratio is library {per}/s over "
        f"raw's. Ideal: {LIMIT} / 0.05 s = {IDEAL:.0f}/s."
    )
    ctx.table([
        "round", "order", f"library {per}/s", f"raw {per}/s", "ratio", "library 429s (share)",
        "retries", "library record p50 / p99 ms"], [
        [e["round"], e["order"], (lib := e["library"])[key], e["raw"][key],
         f"{ratio(lib[key], e['raw'][key]):.3f}",
         f"{lib['server']['too_many_requests']} "
         f"({lib['server']['too_many_requests'] / lib['server']['requests']:.2%})",
         lib["retries"], f"{lib['latency_ms'].get('p50')} / {lib['latency_ms'].get('p99')}"]
        for e in entries])  # fmt: skip
    raw = entries[0]["raw"]
    cpu = median(e[k]["server"]["cpu_us"] for e in entries for k in ("library", "raw")) or 0
    cycle_ms = LATENCY * 1000 + LIMIT * cpu / 1000
    ctx.say(
        f"The raw loop's requests took {raw['request_ms']['mean']} ms on average (p50 "
        f"{raw['request_ms']['p50']}, p99 {raw['request_ms']['p99']}, fastest "
        f"{raw['request_ms']['min']}), not 50: the server spends a median {cpu:.0f} us of CPU "
        f"per request on one core, and the {LIMIT} requests of a cycle arrive together, so a "
        f"cycle lasts up to 50 ms + {LIMIT} x that = {cycle_ms:.1f} ms "
        f"({LIMIT / cycle_ms * 1000:.0f}/s). {IDEAL:.0f}/s is out of reach for any client of "
        "this server here, which is why the target is the ratio to raw aiohttp in the same run."
    )
    lib = entries[0]["library"]
    series, fine = lib["server"]["series"], lib["server"]["fine"]
    limit = [(round(t - series["start"], 3), n) for t, n in lib["client_limit"]]
    lib["client_limit"] = limit  # from the first arrival, as the plot shows it
    ctx.plot(ctx.name, f"{ctx.name.capitalize()}: lock_many at cap {cap}, a server taking "
             f"{LIMIT} in flight (round 1)", [
        Panel("requests answered/s (1 s window)", [rate(series, f"lock_many, cap {cap}"),
              rate(raw["server"]["series"], f"raw aiohttp, {LIMIT} workers"),
              Line(f"ideal {IDEAL:.0f}/s", [0, raw["elapsed_s"]], [IDEAL, IDEAL], "k:")]),
        Panel("requests (10 ms bins)", [
            Line("lock_many's in-flight limit", [t for t, _ in limit], [n for _, n in limit]),
            Line("in flight at the server (most per bin)", bins(fine), fine["in_flight"]),
            Line("429s per bin", bins(fine), fine["throttled"], "bar")]),
    ])  # fmt: skip
    refused = sum(e["library"]["server"]["too_many_requests"] for e in entries)
    return {
        "ratio": median(ratio(e["library"][key], e["raw"][key]) for e in entries),
        "share_429": round(refused / sum(e["library"]["server"]["requests"] for e in entries), 5),
        "share_of_ideal": median(e["library"][key] / IDEAL for e in entries),
        "raw_share_of_ideal": median(e["raw"][key] / IDEAL for e in entries),
    }


def saturation(ctx: Context) -> dict[str, Any]:
    """`lock_many` with cap 20 against a server that takes 20 in flight at 50 ms."""
    return _against_raw(ctx, LIMIT, "requests")


def overload(ctx: Context) -> dict[str, Any]:
    """`lock_many` with cap 40, twice what the server takes: throughput and 429s."""
    figures = _against_raw(ctx, 2 * LIMIT, "records")
    count = ctx.sizes["contrast_records"]
    off = ctx.data["adaptive_off"] = run_library(
        ctx, count, concurrency=2 * LIMIT, adaptive=False, latency=LATENCY, limit=LIMIT
    )
    ctx.say(
        f"For contrast, `adaptive_concurrency=False` at cap 40 over {count:,} records: "
        f"{off['records_per_s']} rec/s, {off['server']['too_many_requests']:,} of "
        f"{off['server']['requests']:,} requests answered 429, {off['failed']} records failed, "
        f"record latency p50 / p99 {off['latency_ms'].get('p50')} / "
        f"{off['latency_ms'].get('p99')} ms."
    )
    return figures


def limiter(ctx: Context) -> dict[str, Any]:
    """``rate_limit`` over a few thousand requests: the rate achieved and the busiest second."""
    rate_limit, requests = ctx.sizes["rate"], ctx.sizes["requests"]
    run = ctx.data["run"] = run_library(
        ctx, requests, concurrency=10, rate_limit=rate_limit, record_sends=True
    )
    achieved = run["requests_per_s"]
    ctx.say(
        f"`rate_limit={rate_limit:g}`, `max_concurrency=10`, {requests:,} requests, no latency "
        f"or limit: {achieved:.2f} requests/s over the call ({achieved / rate_limit - 1:+.2%}). "
        "Busiest one-second window (sliding over every arrival): "
        f"{run['server']['max_in_window_1s']} at the server, {run['client_max_in_window_1s']} "
        f"as sent. Gaps between sends: mean {run['client_mean_gap_ms']} ms, smallest "
        f"{run['client_min_gap_ms']} ms (1 / rate = {1000 / rate_limit:.3f} ms)."
    )
    return {
        "achieved_per_s": achieved,
        "deviation": round(achieved / rate_limit - 1, 4),
        "server_max_in_window_1s": run["server"]["max_in_window_1s"],
    }
