"""Scenarios in process, without sockets: memory, memory over a selection, CPU per request."""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any

from zoho_locking import LockingClient, MockTransport, Response

from ._common import LOCK_BODY, MODULE, OK_BODY, REASON, python, record_ids, run_child
from .harness import Context, Line, Panel, Skip, median

__all__ = ["cpu_per_request", "latency", "memory", "otel", "selection_memory"]


def _child(ctx: Context, count: int, source: str = "plain", *, trace: bool = False) -> Any:
    args = ["--ids", str(count), "--source", source, "--curve", "50"]
    _, _, out = run_child(python("benchmarks._memchild", *args, *(["--trace"] if trace else [])))
    result = json.loads(out.strip().splitlines()[-1])
    report = result["report"]
    if report["succeeded"] != count or report["kept_outcomes"]:
        result["warning"] = f"{report['succeeded']} of {count} locked, outcomes kept"
    ctx.log(f"{source} {count:,}{' traced' if trace else ''}: {result['peak_rss_mb']} MB")
    return result


def _curves(runs: Mapping[str, Any]) -> Panel:
    lines = [Line(label, [p[0] for p in r["curve"]], [p[1] for p in r["curve"]], "-o")
             for label, r in runs.items()]  # fmt: skip
    return Panel("RSS (MB)", lines, xlabel="ids done")


def memory(ctx: Context) -> dict[str, Any]:
    """Peak RSS of `lock_many(keep_successes=False)` over a generator of ids, at two sizes."""
    small, large = ctx.sizes["ids"]
    runs = ctx.data["runs"] = {
        f"{n:,} ids": _child(ctx, n) for n in (small, large)
    } | {f"{small:,} ids, traced": _child(ctx, small, trace=True)}
    ctx.say("A fresh process per run, after a 1,000-id warm-up in it; peak RSS is `VmHWM`, "
            "interpreter and imports included.")  # fmt: skip
    ctx.table(["run", "time s", "RSS after warm-up MB", "peak RSS MB", "tracemalloc peak MB"], [
        [name, r["elapsed_s"], r["rss_before_mb"], r["peak_rss_mb"], r.get("traced_peak_mb", "")]
        for name, r in runs.items()
    ])  # fmt: skip
    top = runs[f"{small:,} ids, traced"]["largest_at_last_record"]
    ctx.say("Largest live allocations after the last record (traced run):",
            "```\n" + "\n".join(top) + "\n```")  # fmt: skip
    ctx.plot("memory", "Memory: RSS along one lock_many run, keep_successes=False",
             [_curves({k: v for k, v in runs.items() if "traced" not in k})])  # fmt: skip
    peak_small, peak = runs[f"{small:,} ids"]["peak_rss_mb"], runs[f"{large:,} ids"]["peak_rss_mb"]
    return {"peak_rss_mb": peak, "growth_mb": round(peak - peak_small, 1)}


_SOURCES = {
    "selection": "`select_ids` (pages of 2,000, the next fetched ahead)",
    "plain": "generator of ids",
    "async": "async generator, never suspends",
    "async-pausing": "async generator, suspends once per 2,000 ids",
}


def selection_memory(ctx: Context) -> dict[str, Any]:
    """Memory and CPU of `lock_many` over `client.select_ids`, against a plain generator."""
    small, large = ctx.sizes["ids"]
    rss = {f"{s}-{small}": _child(ctx, small, s) for s in ("selection", "plain")}
    timing: dict[str, list[Any]] = {source: [] for source in _SOURCES}
    for n in range(ctx.sizes["timing_rounds"]):  # the sources rotated each round
        for source in list(_SOURCES)[n % 4 :] + list(_SOURCES)[: n % 4]:
            timing[source].append(_child(ctx, large, source))
    rss |= {f"{s}-{large}": timing[s][0] for s in ("selection", "plain")}
    traced = {f"{s}-{n}": _child(ctx, n, s, trace=True)
              for n in (small, large) for s in ("selection", "plain")}  # fmt: skip
    ctx.data.update(rss=rss, timing=timing, traced=traced)
    both = ("selection", "plain")
    peak = {s: [rss[f"{s}-{small}"]["peak_rss_mb"], max(r["peak_rss_mb"] for r in timing[s])]
            for s in both}  # fmt: skip
    tr = {s: [traced[f"{s}-{n}"]["traced_peak_mb"] for n in (small, large)] for s in both}
    share = [round(a - b, 2) for a, b in zip(tr["selection"], tr["plain"], strict=True)]
    ctx.say(
        "Each figure from a fresh process. *Plain*: the same run over a generator of ids; both "
        "hold the run's duplicate filter, which grows with the ids by design, so the selection's "
        "own share is its traced peak less the plain run's."
    )
    ctx.table(["", f"{small:,} ids", f"{large:,} ids", "growth"], [
        [name, f"{a:.2f}", f"{b:.2f}", f"{b - a:+.2f}"] for name, (a, b) in (
            ("peak RSS, selection (MB)", peak["selection"]),
            ("peak RSS, plain (MB)", peak["plain"]),
            ("traced peak, selection (MB)", tr["selection"]),
            ("traced peak, plain (MB)", tr["plain"]),
            ("selection's share (MB)", share))
    ])  # fmt: skip
    fastest = {s: min(r["cpu_us_per_record"] for r in runs) for s, runs in timing.items()}
    ctx.say(
        f"CPU per record at {large:,} ids, {ctx.sizes['timing_rounds']} run(s) of each source, "
        "rotated (*fastest*: the run least disturbed by other work; *loop turns*: the event "
        "loop's turns per record). Query requests: "
        f"{rss[f'selection-{small}']['report']['query_requests']} and "
        f"{rss[f'selection-{large}']['report']['query_requests']}; the largest page held "
        f"{rss[f'selection-{large}']['report']['largest_page']:,} ids."
    )
    ctx.table(["source", "CPU us / record, fastest", "median", "loop turns / record"], [
        [label, fastest[s], median(r["cpu_us_per_record"] for r in timing[s]),
         median(r["loop_turns_per_record"] for r in timing[s])] for s, label in _SOURCES.items()
    ])  # fmt: skip
    turns = {s: median(r["loop_turns_per_record"] for r in runs) for s, runs in timing.items()}
    ctx.say(
        f"The selection costs {fastest['selection'] - fastest['plain']:+.1f} us per record over "
        f"the plain generator (fastest runs) and {turns['selection']} loop turns per record; a "
        f"source that suspends once a page costs {turns['async-pausing']} turns per record "
        f"({fastest['async-pausing'] - fastest['plain']:+.1f} us): in process, with answers "
        "that never suspend, a turn of the loop per record is a cost of its own; over the "
        "network every request suspends its worker anyway (scenario `where`)."
    )
    ctx.plot("selection-memory", f"Selection memory: RSS along a run over {large:,} ids",
             [_curves({"select_ids": timing["selection"][0], "plain": timing["plain"][0]})])
    return {
        "growth_mb": round(peak["selection"][1] - peak["selection"][0], 1),
        "share_growth_mb": round(share[1] - share[0], 2),
        "extra_cpu_us": round(fastest["selection"] - fastest["plain"], 1),
    }


# -- CPU per request -----------------------------------------------------------------


async def _yielding_answer(request: Any, auth: Mapping[str, str]) -> Response:
    await asyncio.sleep(0)
    return Response(201, {}, OK_BODY)


def _client(
    concurrency: int, mode: str, flow: Any = None, telemetry: Any = None
) -> LockingClient:
    answer = _yielding_answer if mode == "yielding" else lambda r, a: Response(201, {}, OK_BODY)
    # A flow of the caller's brings its own limit: max_concurrency beside it is refused.
    own = {"max_concurrency": concurrency} if flow is None else {"flow": flow}
    return LockingClient(
        access_token="fake-access-token", api_domain="http://fake.invalid",
        allow_insecure_http=True, transport=MockTransport(answer), telemetry=telemetry, **own,
    )  # fmt: skip


async def bulk(
    count: int, concurrency: int, mode: str, flow: Any = None, telemetry: Any = None
) -> int:
    """`lock_many` over *count* ids answered in process; the requests it sent."""
    async with _client(concurrency, mode, flow, telemetry) as client:
        report = await client.lock_many(
            MODULE, record_ids(count), reason=REASON, keep_successes=False
        )
    assert report.succeeded == count, report.by_code
    return report.requests


async def _single(count: int, concurrency: int, mode: str) -> int:
    ids = record_ids(count)
    async with _client(concurrency, mode) as client:

        async def worker() -> None:
            for record_id in ids:
                await client.lock(MODULE, record_id, reason=REASON)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count


async def _baseline(count: int, concurrency: int, mode: str) -> int:
    """The least an asyncio program does: workers pull ids, build the URL, parse the answer."""
    headers, yielding, done = {"Authorization": "Zoho-oauthtoken x"}, mode == "yielding", 0

    async def send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if yielding:
            await asyncio.sleep(0)
        return 201, OK_BODY

    ids: Iterator[str] = record_ids(count)

    async def worker() -> None:
        nonlocal done
        for record_id in ids:
            url = f"http://fake.invalid/crm/v8/{MODULE}/{record_id}/Locking_Information__s"
            status, body = await send(url, LOCK_BODY, headers)
            if status == 201 and json.loads(body)["data"][0]["details"]["id"]:
                done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


_KINDS: dict[str, tuple[str, Callable[[int, int, str], Coroutine[Any, Any, int]]]] = {
    "lock_many": ("`lock_many` (bulk engine, 10 workers)", bulk),
    "single": ("`await client.lock(...)`, 10 workers", _single),
    "baseline": ("baseline: 10 asyncio workers, f-string URL, `json.loads` of the answer",
                 _baseline),
}  # fmt: skip


def cpu_per_request(run: Callable[[int], Coroutine[Any, Any, int]], count: int) -> float:
    """CPU microseconds per request of ``run(count)``, after a warm-up run."""
    asyncio.run(run(min(count, 2000)))
    cpu = time.process_time()
    requests = asyncio.run(run(count))
    return round((time.process_time() - cpu) / requests * 1e6, 2)


def latency(ctx: Context) -> dict[str, Any]:
    """CPU per request in process (no sockets), best of a few, and a profile of `lock_many`."""
    count, repeats = ctx.sizes["requests"], ctx.sizes["repeats"]
    cpu = ctx.data["cpu_us"] = {
        mode: {kind: min(cpu_per_request(lambda n, f=f, m=mode: f(n, 10, m), count)
                         for _ in range(repeats)) for kind, (_, f) in _KINDS.items()}
        for mode in ("instant", "yielding")
    }  # fmt: skip
    over = {mode: round(c["lock_many"] - c["baseline"], 2) for mode, c in cpu.items()}
    ctx.say(
        f"`time.process_time()` around {count:,} locks answered by `MockTransport`, best of "
        f"{repeats}. *Instant*: answered at once; *yielding*: the answer first does `await "
        "asyncio.sleep(0)`, suspending once as over a network."
    )
    ctx.table(["", "instant: CPU us/request", "yielding: CPU us/request"], [
        *([label, cpu["instant"][k], cpu["yielding"][k]] for k, (label, _) in _KINDS.items()),
        ["**library overhead** (lock_many - baseline)", f"**{over['instant']}**",
         f"**{over['yielding']}**"],
    ])  # fmt: skip
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(bulk(ctx.sizes["profile_requests"], 10, "yielding"))
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_file: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = "builtins" if filename == "~" else "/".join(filename.split("/")[-2:])
        by_file[name] = by_file.get(name, 0.0) + own
    total = sum(by_file.values()) or 1.0
    out = io.StringIO()
    for name, own in sorted(by_file.items(), key=lambda item: -item[1])[:12]:
        out.write(f"  {own / total:6.1%}  {name}\n")
    stats.stream = out  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("tottime").print_stats(20)
    ctx.data["profile"] = out.getvalue()
    ctx.say(f"cProfile of `lock_many`, {ctx.sizes['profile_requests']:,} requests, yielding "
            "answers: own time by file, then by function (the shares are what matter).",
            "```\n" + out.getvalue().strip("\n").rstrip() + "\n```")  # fmt: skip
    return {"overhead_us": over["instant"], "overhead_yielding_us": over["yielding"],
            "lock_many_us": cpu["instant"]["lock_many"]}  # fmt: skip


# -- OpenTelemetry ---------------------------------------------------------------------


def _telemetry(mode: str) -> Any:
    """`LockingClient(telemetry=...)` for *mode*: off, the API alone, or an SDK recording."""
    if mode == "off":
        return False
    if mode == "api":
        return None  # the default: the API is installed, no provider is set
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from zoho_locking.otel import Telemetry

    # Spans are made and ended but exported nowhere: the SDK's own cost, no exporter's.
    return Telemetry(
        tracer_provider=TracerProvider(),
        meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
    )


_OTEL_MODES = {
    "off": "`telemetry=False`: no OpenTelemetry at all",
    "api": "`opentelemetry-api` installed, no provider set (the default)",
    "sdk": "an SDK recording (tracer and meter providers, in-memory reader, no exporter)",
}


def otel(ctx: Context) -> dict[str, Any]:
    """CPU per request of `lock_many` with OpenTelemetry off, the API alone, an SDK active."""
    try:
        import opentelemetry.sdk  # noqa: F401
    except ImportError as exc:
        raise Skip("no opentelemetry-sdk: pip install -e '.[test]'") from exc
    count, rounds = ctx.sizes["requests"], ctx.sizes["rounds"]
    runs: dict[str, list[float]] = {mode: [] for mode in _OTEL_MODES}

    def measure(mode: str) -> None:
        telemetry = _telemetry(mode)
        runs[mode].append(
            cpu_per_request(lambda k, t=telemetry: bulk(k, 10, "yielding", None, t), count)
        )

    for n in range(rounds):  # off and the API alone side by side, their order alternated
        for mode in ("off", "api") if n % 2 == 0 else ("api", "off"):
            measure(mode)
    for _ in range(rounds):  # the SDK after them: what it leaves behind must not weigh on them
        measure("sdk")
    ctx.data["cpu_us"] = runs
    best = {mode: min(values) for mode, values in runs.items()}
    # The API alone against off, round by round: the two ran moments apart, so the
    # machine's drift cancels; the median of those is the figure judged.
    api_ratio = median(a / o for a, o in zip(runs["api"], runs["off"], strict=True))
    ctx.say(
        f"`time.process_time()` around {count:,} locks answered in process (each answer "
        f"suspends once, as over a network): {rounds} rounds of *off* and *API alone* side by "
        f"side, their order alternated, then {rounds} runs with the SDK; *best*: the run least "
        "disturbed by other work; the API's ratio is the median of the rounds' own ratios."
    )
    ctx.table(["", "CPU us / request, best", "median", "over off, best"], [
        [label, best[mode], median(runs[mode]), f"{best[mode] - best['off']:+.1f}"]
        for mode, label in _OTEL_MODES.items()
    ])  # fmt: skip
    return {
        "api_ratio": None if api_ratio is None else round(api_ratio, 3),
        "api_extra_us": round(best["api"] - best["off"], 1),
        "sdk_extra_us": round(best["sdk"] - best["off"], 1),
    }
