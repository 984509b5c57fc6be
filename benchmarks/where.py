"""Issue 16, selections: a run from ``--where`` against the same run from an ids file.

``python -m benchmarks.where [--rounds N] [--quick] [--json PATH]`` measures:

1. **--where against --ids**: against the fake CRM in a process of its own
   (``benchmarks/_server.py``: org limit 20 in flight, 50 ms latency, a fresh
   org of 25,000 ``Deals`` before every run, their fields seeded by position as
   `zoho_locking.testing.fields` documents), a
   ``zoho-locking lock --module Deals --where CONDITION --concurrency 20`` process
   and a ``zoho-locking lock --module Deals --ids FILE --concurrency 20`` process
   whose file holds the same 5,000 ids, computed here from the seeding
   (`matching_ids`). Each round runs the two next to each other, the order
   alternated. Both are judged at the server the same way: lock requests not
   answered 429 (COQL requests left out) over the span from the first lock's
   arrival to the last one's. The server also counts the COQL calls (3 pages:
   2,000 + 2,000 + 1,000) and the lock requests (5,000), and notes the longest
   pause between two lock arrivals (up to about one latency in any run, as the
   requests in flight come back in clumps; a page that came late would add to it).
   Secondary: each process's whole wall time and its start to its first lock.
   The figure is the median of the rounds' where / ids ratios (target >= 0.97).
2. **Memory over a 200,000-record selection**: `lock_many` with
   ``keep_successes=False`` over ``client.select_ids(...)``, answered in process
   by a handler that computes each page from the query's ``id > N`` bound and
   LIMIT (``benchmarks/_memory_where.py``), at 20,000 and 200,000 ids, each in a
   fresh process: peak RSS (``VmHWM``) and, in separate processes, tracemalloc's
   peak; the same for a plain id generator, as the baseline. Also the time per
   record at 200,000 of the selection, the plain generator, and two async
   generators (one never suspends, one suspends once per 2,000 ids, as a
   selection does when it awaits a page), which split the selection's extra
   cost into the async way in, suspending, and the pages themselves.

It prints a Markdown section for ``benchmarks/RESULTS.md``; ``--json PATH``
keeps the numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from zoho_locking import BulkReport
from zoho_locking.models import SUCCEEDED
from zoho_locking.testing.fields import schema_for, seeded_values

from ._common import FIRST_ID, MODULE, REASON
from ._memory_where import CONDITION, PAGE, SOURCES
from ._procs import LATENCY, ORG_LIMIT, ROOT, Server, client_env, run_child
from ._section import describe_run, median_or_none, met, num, parse_options, run_meta

__all__ = ["CONDITION", "main", "matching_ids"]

RECORDS = 25_000
QUICK_RECORDS = 12_000
WARM_UP_RECORDS = 2_000
ROUNDS = 5
#: Ids selected in part 2 (small, large), and with --quick.
MEMORY_SIZES = (20_000, 200_000)
QUICK_MEMORY_SIZES = (2_000, 20_000)
#: Untraced runs of each source at the large size, for the time per record.
TIMING_ROUNDS = 3

TARGET_RATIO = 0.97
TARGET_GROWTH_MB = 20.0
#: "Nearly equal" traced peaks: the selection's own share may grow by less than this.
TARGET_TRACED_GROWTH_MB = 1.0
#: Seconds a memory child may take.
MEMORY_TIMEOUT = 600.0


def matching_ids(records: int) -> list[str]:
    """The ids of the org's first *records* Deals that ``CONDITION`` selects, ascending.

    The org holds ``FIRST_ID + k`` for k = 0 .. records - 1, the k-th seeded by
    position: ``Amount >= 40000`` and ``Closing_Date < '2025-07-01'``.
    """
    schema = schema_for(MODULE)
    amount_at, closing_at = schema.position("Amount"), schema.position("Closing_Date")
    assert amount_at is not None and closing_at is not None
    ids: list[str] = []
    for k in range(records):
        # seeded_values leaves out ``id``, storage position 0.
        values = seeded_values(schema, k, "Deal")
        if values[amount_at - 1] >= 40000 and values[closing_at - 1] < "2025-07-01":
            ids.append(str(FIRST_ID + k))
    return ids


def _pages(matches: int) -> int:
    """COQL calls a selection of *matches* ids makes: full pages, then a last one.

    The fake says ``more_records`` only when a further match exists, so a last
    full page needs no empty call after it; no match at all is one call.
    """
    return max(1, -(-matches // PAGE))


def _page_sizes(matches: int) -> str:
    """The pages a selection of *matches* ids comes in, as text: ``2,000 + 2,000 + 1,000``."""
    sizes = [min(PAGE, matches - start) for start in range(0, matches, PAGE)] or [0]
    return " + ".join(f"{size:,}" for size in sizes)


def _figures(stats: dict[str, Any], times: tuple[float, float]) -> dict[str, Any]:
    """The figures both runs are judged by, from the server's counters by kind."""
    kinds = stats["kinds"]
    lock, coql, other = kinds["lock"], kinds["coql"], kinds["other"]
    requests, throttled = int(lock["requests"]), int(lock["too_many_requests"])
    first, last = lock["first_arrival"], lock["last_arrival"]
    span = float(last - first) if first is not None and last is not None else 0.0
    started, ended = times
    gap = lock["max_gap_s"]
    return {
        "lock_requests": requests,
        "lock_429s": throttled,
        "span_s": round(span, 4),
        # Lock requests not answered 429, per second of their span.
        "per_s": round((requests - throttled) / span, 2) if span > 0 else 0.0,
        "max_lock_gap_ms": round(gap * 1000, 1) if gap is not None else None,
        "coql_requests": int(coql["requests"]),
        "coql_429s": int(coql["too_many_requests"]),
        "org_coql_calls": stats["coql_calls"],
        # When each query arrived, from the first lock's arrival (negative: before it).
        "coql_at_s": [round(t - first, 3) for t in coql["arrivals"] or []]
        if first is not None
        else [],
        "other_requests": int(other["requests"]),
        "all_429s": stats["too_many_requests"],
        "peak_in_flight": stats["peak_in_flight"],
        "server_cpu_s": round(stats["cpu"], 3),
        "server_cpu_us_per_lock": round(stats["cpu"] / requests * 1e6, 1) if requests else 0.0,
        "process_wall_s": round(ended - started, 3),
        "to_first_lock_s": round(first - started, 3) if first is not None else None,
        "after_last_lock_s": round(ended - last, 3) if last is not None else None,
        "load_1min": round(os.getloadavg()[0], 2),
    }


def run_cli(
    server: Server, tmp: Path, records: int, expected: list[str], *, source: str, tag: str
) -> dict[str, Any]:
    """One ``zoho-locking lock`` process over a fresh org: ``--where`` or ``--ids``."""
    server.reset(records)
    report_path = tmp / "report.json"
    report_path.unlink(missing_ok=True)
    if source == "where":
        chosen = ["--where", CONDITION]
    else:
        ids_path = tmp / f"ids-{records}.txt"
        if not ids_path.exists():
            ids_path.write_text("".join(f"{record_id}\n" for record_id in expected))
        chosen = ["--ids", str(ids_path)]
    args = [
        sys.executable, "-m", "zoho_locking", "lock", "--module", MODULE, *chosen,
        "--concurrency", str(ORG_LIMIT), "--reason", REASON, "--api-domain", server.url,
        "--report", str(report_path), "-q",
    ]  # fmt: skip
    # Every run cold, the same for both: a limit store that does not exist yet.
    env = client_env(server.token, tmp / f"limits-{tag}.json")
    code, times, _, err = run_child(args, env)
    if code != 0:
        raise RuntimeError(f"zoho-locking lock ({source}) exited {code}: {err.strip()[-2000:]}")
    report = BulkReport.from_json(report_path.read_text())
    result = _figures(server.stats(), times)
    locked = {o.record_id for o in report.outcomes if o.status == SUCCEEDED}
    result.update(
        source=source,
        records=report.total,
        succeeded=report.succeeded,
        client_requests=report.requests,
        client_query_requests=report.query_requests,
        retries=report.retries,
        client_wall_s=round(report.wall_time, 3),
        # The CLI keeps every outcome in its report: the ids locked are exactly these.
        same_ids=locked == set(expected) if report.keep_successes else None,
    )
    warnings: list[str] = []
    if report.succeeded != len(expected) or result["same_ids"] is False:
        warnings.append(f"{report.succeeded} locked, not exactly the {len(expected)} expected")
    if result["lock_requests"] != len(expected):
        warnings.append(f"{result['lock_requests']} lock requests for {len(expected)} records")
    pages = _pages(len(expected)) if source == "where" else 0
    if result["coql_requests"] != pages:
        warnings.append(f"{result['coql_requests']} COQL requests, expected {pages}")
    if warnings:
        result["warning"] = "; ".join(warnings)
    return result


def _network(
    server: Server, tmp: Path, *, rounds: int, records: int, expected: list[str]
) -> list[dict[str, Any]]:
    """Alternate a --where run and an --ids run *rounds* times (--where first in odd rounds)."""
    entries: list[dict[str, Any]] = []
    for n in range(rounds):
        order = ("where", "ids") if n % 2 == 0 else ("ids", "where")
        entry: dict[str, Any] = {"round": n + 1, "order": ", ".join(order)}
        for source in order:
            entry[source] = run_cli(
                server, tmp, records, expected, source=source, tag=f"{source}-{n}"
            )
        where, ids = entry["where"], entry["ids"]
        entry["ratio"] = round(where["per_s"] / ids["per_s"], 4) if ids["per_s"] else 0.0
        entry["wall_ratio"] = round(ids["process_wall_s"] / where["process_wall_s"], 4)
        print(
            f"round {n + 1}: --where {where['per_s']:.1f}/s, --ids {ids['per_s']:.1f}/s, "
            f"ratio {entry['ratio']:.3f}; wall {where['process_wall_s']:.2f} / "
            f"{ids['process_wall_s']:.2f} s; COQL {where['coql_requests']}",
            file=sys.stderr, flush=True,
        )  # fmt: skip
        entries.append(entry)
    return entries


def _network_summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    def both(key: str) -> tuple[float | None, float | None]:
        return (
            median_or_none([e["where"][key] for e in entries]),
            median_or_none([e["ids"][key] for e in entries]),
        )

    return {
        "rounds": len(entries),
        "ratio": median_or_none([e["ratio"] for e in entries]),
        "ratio_min": min(e["ratio"] for e in entries),
        "ratio_max": max(e["ratio"] for e in entries),
        "wall_ratio": median_or_none([e["wall_ratio"] for e in entries]),
        "per_s": both("per_s"),
        "process_wall_s": both("process_wall_s"),
        "to_first_lock_s": both("to_first_lock_s"),
        "max_lock_gap_ms": both("max_lock_gap_ms"),
        "server_cpu_us_per_lock": both("server_cpu_us_per_lock"),
        "coql_requests": sorted({e["where"]["coql_requests"] for e in entries}),
        "lock_requests": sorted(
            {e[source]["lock_requests"] for e in entries for source in ("where", "ids")}
        ),
        "lock_429s": sum(e[source]["lock_429s"] for e in entries for source in ("where", "ids")),
        "coql_429s": sum(e["where"]["coql_429s"] for e in entries),
        "same_ids": all(e[source]["same_ids"] for e in entries for source in ("where", "ids")),
    }


def _memory_child(count: int, source: str, *, trace: bool) -> dict[str, Any]:
    args = [sys.executable, "-m", "benchmarks._memory_where", "--ids", str(count)]
    args += ["--source", source, *(["--trace"] if trace else [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=MEMORY_TIMEOUT
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[1:])} exited {done.returncode}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report = result["report"]
    if report["succeeded"] != count or report["kept_outcomes"]:
        result["warning"] = (
            f"{report['succeeded']} of {count} locked, {report['kept_outcomes']} outcomes kept"
        )
    print(
        f"memory: {source} {count:,}{' traced' if trace else ''}: peak RSS "
        f"{result['peak_rss_mb']} MB"
        + (f", traced peak {result['traced_peak_mb']} MB" if trace else "")
        + f", {result['us_per_record']} us/record",
        file=sys.stderr, flush=True,
    )  # fmt: skip
    return result


def _memory(sizes: tuple[int, int], timing_rounds: int) -> dict[str, Any]:
    """Part 2: peak RSS and traced peaks at both sizes; time per record at the large one."""
    small, large = sizes
    runs: dict[str, Any] = {
        "rss": {
            f"{source}-{count}": _memory_child(count, source, trace=False)
            for count in (small,)
            for source in ("selection", "plain")
        },
    }
    # At the large size the untraced runs double as the timing: sources rotated per round.
    timing: dict[str, list[dict[str, Any]]] = {source: [] for source in SOURCES}
    sources = list(SOURCES)
    for n in range(timing_rounds):
        turn = n % len(sources)
        for source in sources[turn:] + sources[:turn]:
            timing[source].append(_memory_child(large, source, trace=False))
    runs["rss"][f"selection-{large}"] = timing["selection"][0]
    runs["rss"][f"plain-{large}"] = timing["plain"][0]
    runs["traced"] = {
        f"{source}-{count}": _memory_child(count, source, trace=True)
        for count in (small, large)
        for source in ("selection", "plain")
    }
    rss, traced = runs["rss"], runs["traced"]
    peak_large = max(r["peak_rss_mb"] for r in timing["selection"])
    summary: dict[str, Any] = {
        "sizes": [small, large],
        "peak_rss_mb": [rss[f"selection-{small}"]["peak_rss_mb"], peak_large],
        "plain_peak_rss_mb": [
            rss[f"plain-{small}"]["peak_rss_mb"],
            max(r["peak_rss_mb"] for r in timing["plain"]),
        ],
        "traced_peak_mb": [traced[f"selection-{n}"]["traced_peak_mb"] for n in sizes],
        "plain_traced_peak_mb": [traced[f"plain-{n}"]["traced_peak_mb"] for n in sizes],
        "timing_rounds": timing_rounds,
        "us_per_record": {
            source: median_or_none([r["us_per_record"] for r in timing[source]])
            for source in timing
        },
        "cpu_us_per_record": {
            source: median_or_none([r["cpu_us_per_record"] for r in timing[source]])
            for source in timing
        },
        # The fastest run of each: the least disturbed by the machine's other work.
        "cpu_us_per_record_min": {
            source: min(r["cpu_us_per_record"] for r in timing[source]) for source in timing
        },
        "loop_turns_per_record": {
            source: median_or_none(
                [
                    r["report"]["loop_turns"] / large
                    if r["report"]["loop_turns"] is not None
                    else None
                    for r in timing[source]
                ]
            )
            for source in timing
        },
        "query_requests": [rss[f"selection-{n}"]["report"]["query_requests"] for n in sizes],
        "largest_page": rss[f"selection-{large}"]["report"]["largest_page"],
    }
    peaks, plain = summary["peak_rss_mb"], summary["plain_peak_rss_mb"]
    summary["growth_mb"] = round(peaks[1] - peaks[0], 1)
    summary["plain_growth_mb"] = round(plain[1] - plain[0], 1)
    t_sel, t_plain = summary["traced_peak_mb"], summary["plain_traced_peak_mb"]
    summary["traced_growth_mb"] = round(t_sel[1] - t_sel[0], 2)
    # What the selection holds beyond what any bulk run holds (the duplicate filter).
    summary["selection_share_mb"] = [round(s - p, 2) for s, p in zip(t_sel, t_plain, strict=True)]
    share = summary["selection_share_mb"]
    summary["selection_share_growth_mb"] = round(share[1] - share[0], 2)
    return {"summary": summary, "runs": runs, "timing": timing}


def main(argv: list[str] | None = None) -> int:
    """Run both parts and print the Markdown section."""
    prog = "python -m benchmarks.where"
    args, rounds = parse_options(
        prog, argv, rounds=ROUNDS, rounds_help="alternated --where / --ids rounds",
        quick_help=f"smoke check: 1 round over {QUICK_RECORDS:,} records, memory at "
        f"{QUICK_MEMORY_SIZES[0]:,} and {QUICK_MEMORY_SIZES[1]:,} ids",
    )  # fmt: skip
    records = QUICK_RECORDS if args.quick else RECORDS
    sizes = QUICK_MEMORY_SIZES if args.quick else MEMORY_SIZES
    timing_rounds = 1 if args.quick else TIMING_ROUNDS
    expected = matching_ids(records)
    meta: dict[str, Any] = {
        **run_meta(prog),
        "records": records,
        "matching": len(expected),
        "condition": CONDITION,
        "rounds": rounds,
        "org_limit": ORG_LIMIT,
        "latency_s": LATENCY,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zl-where-") as tmp_name, Server() as server:
        tmp = Path(tmp_name)
        # Warm the disk cache, the bytecode and the server's COQL parser; not counted.
        warm = matching_ids(WARM_UP_RECORDS)
        for source in ("where", "ids"):
            run_cli(server, tmp, WARM_UP_RECORDS, warm, source=source, tag=f"warm-{source}")
        network = _network(server, tmp, rounds=rounds, records=records, expected=expected)
    meta["network_s"] = round(time.perf_counter() - started, 1)
    memory = _memory(sizes, timing_rounds)
    meta["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["total_s"] = round(time.perf_counter() - started, 1)
    results: dict[str, Any] = {
        "meta": meta,
        "network": {"summary": _network_summary(network), "rounds": network},
        "memory": memory,
    }
    _print(results, sys.stdout)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _print(results: dict[str, Any], out: IO[str]) -> None:
    meta = results["meta"]
    net, entries = results["network"]["summary"], results["network"]["rounds"]
    mem = results["memory"]["summary"]

    def say(text: str = "") -> None:
        print(text, file=out)

    say("### Issue 16: selections (`--where`) against an ids file\n")
    say(f"{describe_run(meta)}{meta['total_s']} s in all ({meta['network_s']} s for part 1).\n")
    say(
        f"**1. `--where` against `--ids`.** The fake CRM in its own process, org limit "
        f"{meta['org_limit']} in flight, {meta['latency_s'] * 1000:.0f} ms latency, a fresh "
        f'org of {meta["records"]:,} Deals before every run; `--where "{meta["condition"]}"` '
        f"selects {meta['matching']:,} of them, and the ids file holds the same "
        f"{meta['matching']:,} ids, computed from the org's seeding. Both are "
        f"`zoho-locking lock --module Deals ... --concurrency {meta['org_limit']} -q --report "
        "...` processes, every one with a new `ZOHO_LIMIT_STORE`. *Locks/s* is measured at "
        "the server: lock requests not answered 429 (the COQL requests left out) over the "
        "span from the first lock's arrival to the last one's. *Ratio*: where / ids within a "
        "round (two neighbouring runs, their order alternated); the figure is the median of "
        "the rounds' ratios. *COQL*: query requests the server saw (pages of "
        f"{_page_sizes(meta['matching'])} ids) and when they arrived, in seconds from the first "
        "lock's arrival (negative: before it). *Longest pause*: the longest time between two "
        "lock arrivals in a row; 20 requests answered after the same latency arrive again in "
        "clumps, so a pause of up to about one latency is the usual rhythm in both runs, and a "
        "page that came late would add its own wait to that. *Start-up*: the process's start "
        "to the first lock's arrival. *Wall*: the whole process; *wall ratio*: ids' wall time "
        "/ where's (1.0: as fast).\n"
    )
    say(
        "| round | order | where locks/s | ids locks/s | ratio | COQL (arrived at s) "
        "| lock requests where / ids | longest pause where / ids ms "
        "| start-up where / ids s | wall where / ids s (ratio) |"
    )
    say("|---" * 10 + "|")
    for e in entries:
        w, i = e["where"], e["ids"]
        at = ", ".join(f"{t:+.2f}" for t in w["coql_at_s"])
        say(
            f"| {e['round']} | {e['order']} | {w['per_s']:.1f} | {i['per_s']:.1f} "
            f"| {e['ratio']:.3f} | {w['coql_requests']} ({at}) "
            f"| {w['lock_requests']:,} / {i['lock_requests']:,} "
            f"| {num(w['max_lock_gap_ms'], '.1f')} / {num(i['max_lock_gap_ms'], '.1f')} "
            f"| {num(w['to_first_lock_s'], '.2f')} / {num(i['to_first_lock_s'], '.2f')} "
            f"| {w['process_wall_s']:.2f} / {i['process_wall_s']:.2f} ({e['wall_ratio']:.3f}) |"
        )
    ratio = net["ratio"]
    per_s, wall, start = net["per_s"], net["process_wall_s"], net["to_first_lock_s"]
    say(
        f"\nMedian ratio **{ratio:.3f}** (from {net['ratio_min']:.3f} to "
        f"{net['ratio_max']:.3f}; target >= {TARGET_RATIO}: {met(ratio >= TARGET_RATIO)}); "
        f"medians where {per_s[0]:.1f} locks/s, ids {per_s[1]:.1f} locks/s; by whole-process "
        f"wall time the ratio is {net['wall_ratio']:.3f} (medians {wall[0]:.2f} s and "
        f"{wall[1]:.2f} s; "
        f"start-up {num(start[0], '.2f')} s and {num(start[1], '.2f')} s). COQL requests per "
        f"--where run: {', '.join(map(str, net['coql_requests']))} (expected "
        f"{_pages(meta['matching'])}); lock requests per run: "
        f"{', '.join(f'{n:,}' for n in net['lock_requests'])} (expected {meta['matching']:,}); "
        f"429s: {net['lock_429s']} on locks, {net['coql_429s']} on queries; every run locked "
        f"exactly the expected ids: {'yes' if net['same_ids'] else '**no**'}.\n"
    )
    small, large = mem["sizes"]
    peaks, plain = mem["peak_rss_mb"], mem["plain_peak_rss_mb"]
    t_sel, t_plain, share = (
        mem["traced_peak_mb"], mem["plain_traced_peak_mb"], mem["selection_share_mb"],
    )  # fmt: skip
    say(
        f"**2. Memory over a {large:,}-record selection.** `lock_many(keep_successes=False)` "
        'over `client.select_ids("Deals", ...)`, in process: a `MockTransport` whose handler '
        "builds each page from the `id > N` bound and the LIMIT in the query's text (no list "
        "of the ids anywhere) and answers locks at once (`benchmarks/_memory_where.py`); "
        "each figure from a fresh process, tracemalloc in processes of their own. *Plain*: "
        "the same run over a generator of ids (scenario 5's input), the baseline: both hold "
        "the run's duplicate filter, which grows with the ids by design.\n"
    )
    say(f"| | {small:,} ids | {large:,} ids | growth |")
    say("|---|---|---|---|")
    rows = [
        ("peak RSS, selection (MB)", peaks, ".1f", mem["growth_mb"]),
        ("peak RSS, plain (MB)", plain, ".1f", mem["plain_growth_mb"]),
        ("traced peak, selection (MB)", t_sel, ".2f", mem["traced_growth_mb"]),
        ("traced peak, plain (MB)", t_plain, ".2f", round(t_plain[1] - t_plain[0], 2)),
        ("selection's share: traced selection - plain (MB)", share, ".2f",
         mem["selection_share_growth_mb"]),
    ]  # fmt: skip
    for name, pair, spec, growth in rows:
        say(f"| {name} | {pair[0]:{spec}} | {pair[1]:{spec}} | {growth:+{spec}} |")
    say(
        f"\nPeak RSS growth from {small:,} to {large:,} ids: **{mem['growth_mb']:+.1f} MB** "
        f"(target < {TARGET_GROWTH_MB:.0f} MB: {met(mem['growth_mb'] < TARGET_GROWTH_MB)}); "
        f"traced peaks {t_sel[0]:.2f} and {t_sel[1]:.2f} MB ({mem['traced_growth_mb']:+.2f} MB, "
        f"the plain generator's {t_plain[1] - t_plain[0]:+.2f} MB); the selection's own share "
        f"grows by **{mem['selection_share_growth_mb']:+.2f} MB** (nearly equal, taken as "
        f"< {TARGET_TRACED_GROWTH_MB:.0f} MB: "
        f"{met(mem['selection_share_growth_mb'] < TARGET_TRACED_GROWTH_MB)}). Query requests: "
        f"{mem['query_requests'][0]} and {mem['query_requests'][1]}; the largest page held "
        f"{mem['largest_page']:,} ids.\n"
    )
    cpu, fastest, turns = (
        mem["cpu_us_per_record"], mem["cpu_us_per_record_min"], mem["loop_turns_per_record"],
    )  # fmt: skip
    say(
        f"CPU time per record in process at {large:,} ids, {mem['timing_rounds']} untraced "
        "run(s) of each source, in turn (no sockets: the client's own work, plus the handler's "
        "building of the pages); *fastest*: the run least disturbed by the machine's other "
        "work; *loop turns*: the event loop's turns during the run, per record:\n"
    )
    say("| source | CPU us / record, fastest | median | loop turns / record |")
    say("|---|---|---|---|")
    labels = {
        "selection": "`select_ids` (pages of 2,000, the next fetched ahead)",
        "plain": "generator of ids",
        "async": "async generator, never suspends",
        "async-pausing": "async generator, suspends once per 2,000 ids",
    }
    for source, label in labels.items():
        say(
            f"| {label} | {num(fastest.get(source), '.1f')} | {num(cpu.get(source), '.1f')} "
            f"| {num(turns.get(source), '.3f')} |"
        )
    say(
        f"\nThe selection costs {fastest['selection'] - fastest['plain']:+.1f} us of CPU per "
        "record over the plain generator (fastest runs). The loop turns say where most of it "
        "goes: a source that suspends even once (the selection does when it awaits its first "
        "page) leaves the bulk run's workers queued on the intake's lock from then on, so "
        "each record costs a turn of the event loop, where a source that never suspends "
        "costs none. In process, with answers that never suspend, that turn is the "
        "difference; over the network every request suspends its worker anyway, which is "
        "what part 1 measures.\n"
    )
    warnings = [
        f"round {e['round']} {source}: {e[source]['warning']}"
        for e in entries
        for source in ("where", "ids")
        if "warning" in e[source]
    ]
    runs = results["memory"]["runs"]
    warnings += [
        f"memory {name}: {r['warning']}"
        for group in (runs["rss"], runs["traced"])
        for name, r in group.items()
        if "warning" in r
    ]
    cpu_lock = net["server_cpu_us_per_lock"]
    say(
        f"Notes: the server spent a median {num(cpu_lock[0], '.0f')} us (where) and "
        f"{num(cpu_lock[1], '.0f')} us (ids) of CPU per lock request, the COQL pages "
        f"included in the first. Warnings: {'; '.join(warnings) or 'none'}."
    )


if __name__ == "__main__":
    sys.exit(main())
