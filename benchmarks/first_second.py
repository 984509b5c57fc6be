"""Issue 14, "full speed from the first second": the command line against raw aiohttp.

``python -m benchmarks.first_second [--rounds N] [--json PATH] [--quick]`` runs,
against the fake CRM in a process of its own (``benchmarks/_server.py``: org
limit 20 in flight, 50 ms latency, a fresh org of 1,500 records in ``Deals``
before every run):

1. **cap 20**: a ``zoho-locking lock --concurrency 20`` process against a raw
   aiohttp loop with 20 workers in a process of its own (``benchmarks/_rawloop.py``),
   alternately (CLI then raw, then raw then CLI, ...). Every CLI run starts cold:
   ``ZOHO_LIMIT_STORE`` names a file that does not exist yet.
2. **cap 40**: the same with ``--concurrency 40``, twice the org's limit, against
   the same raw loop (20 workers, the org's real limit). One ``ZOHO_LIMIT_STORE``
   file is kept across the rounds, as a user's would be: the first round is cold
   (no file), the later ones warm (whatever the earlier runs left there).
3. **demo**: ``zoho-locking demo``'s function in this process; requests per record
   for its lock and its unlock, read from the reports it prints.

Throughput is measured at the server, the same way for both clients: requests it
did not answer 429, over the span from the first arrival to the last. Each
process's wall time (start-up, imports and reading the ids included) is the
secondary figure. A round's ratio is CLI / raw of two neighbouring runs; the
figure is the median of the rounds' ratios. It prints a Markdown section for
``benchmarks/RESULTS.md``; ``--json PATH`` keeps the numbers.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from zoho_locking import BulkReport
from zoho_locking.cli.demo import run_demo

from ._common import FIRST_ID, MODULE, REASON
from ._procs import LATENCY, ORG_LIMIT, Server, Times, client_env, run_child
from ._section import describe_run, median_or_none, met, num, parse_options, run_meta

__all__ = ["main"]

OVER_CAP = 40
RECORDS = 1500
ROUNDS = 5
QUICK_RECORDS = 400
QUICK_DEMO_DEALS = 500
WARM_UP_RECORDS = 200

TARGET_CAP20 = 0.97
TARGET_CAP40 = 0.93
TARGET_429 = 0.01
TARGET_OVERHEAD = 0.95
#: The demo's planted records (zoho_locking/demo.py): locked by a rule, not the user's.
DEMO_EXPECTED_LOCK_CODES = frozenset({"SUCCESS", "ALREADY_LOCKED", "NO_PERMISSION"})


def _at_server(stats: dict[str, Any], times: Times, records: int) -> dict[str, Any]:
    """The figures both clients are judged by, from the server's counters."""
    requests = int(stats["requests"])
    throttled = int(stats["too_many_requests"])
    first, last = stats["first_arrival"], stats["last_arrival"]
    span = float(last - first) if first is not None and last is not None else 0.0
    started, ended = times
    wall = ended - started
    in_first = stats.get("in_first_1s")
    return {
        "requests": requests,
        "too_many_requests": throttled,
        "share_429": round(throttled / requests, 5) if requests else 0.0,
        "span_s": round(span, 4),
        # Requests not answered 429, per second of the span: useful work at the server.
        "per_s": round((requests - throttled) / span, 2) if span > 0 else 0.0,
        "in_first_1s": in_first,
        # Arrivals after the first second (429s included) over the rest of the span:
        # the pace once started, to tell a slow start from a slow run.
        "after_1s_per_s": (
            round((requests - in_first) / (span - 1.0), 2)
            if in_first is not None and span > 1.5
            else None
        ),
        "max_in_window_1s": stats["max_in_window_1s"],
        "peak_in_flight": stats["peak_in_flight"],
        "server_cpu_us_per_request": round(stats["cpu"] / requests * 1e6, 1) if requests else 0.0,
        "server_busy": round(stats["cpu"] / span, 2) if span > 0 else 0.0,
        "process_wall_s": round(wall, 3),
        # From the process's start to the server's first arrival (interpreter, imports,
        # reading the ids, connecting), and from the last arrival to the process's end.
        "to_first_request_s": round(first - started, 3) if first is not None else None,
        "after_last_request_s": round(ended - last, 3) if last is not None else None,
        "records_per_wall_s": round(records / wall, 1),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def _ids_file(tmp: Path, records: int) -> Path:
    path = tmp / f"ids-{records}.txt"
    if not path.exists():
        path.write_text("".join(f"{FIRST_ID + offset}\n" for offset in range(records)))
    return path


def run_cli(
    server: Server, tmp: Path, records: int, *, cap: int, limit_store: Path
) -> dict[str, Any]:
    """One ``zoho-locking lock`` process over *records* fresh records."""
    server.reset(records)
    report_path = tmp / "report.json"
    report_path.unlink(missing_ok=True)
    args = [
        sys.executable, "-m", "zoho_locking", "lock", "--module", MODULE,
        "--ids", str(_ids_file(tmp, records)), "--concurrency", str(cap), "--reason", REASON,
        "--api-domain", server.url, "--report", str(report_path), "-q",
    ]  # fmt: skip
    code, times, _, err = run_child(args, client_env(server.token, limit_store))
    if code not in (0, 1):
        raise RuntimeError(f"zoho-locking lock exited {code}: {err.strip()[-2000:]}")
    report = BulkReport.from_json(report_path.read_text())
    result = _at_server(server.stats(), times, records)
    result.update(
        exit_code=code,
        records=report.total,
        succeeded=report.succeeded,
        client_requests=report.requests,
        retries=report.retries,
        client_429s=report.throttled,
        client_wall_s=round(report.wall_time, 3),
    )
    if report.succeeded != records:
        result["warning"] = f"only {report.succeeded} of {records} records were locked"
    return result


def run_raw(server: Server, tmp: Path, records: int) -> dict[str, Any]:
    """One raw aiohttp process (`benchmarks._rawloop`), 20 workers, over *records* records."""
    server.reset(records)
    args = [
        sys.executable, "-m", "benchmarks._rawloop", "--url", server.url,
        "--ids", str(_ids_file(tmp, records)), "--concurrency", str(ORG_LIMIT),
        "--reason", REASON,
    ]  # fmt: skip
    code, times, out, err = run_child(args, client_env(server.token, None))
    if code != 0:
        raise RuntimeError(f"benchmarks._rawloop exited {code}: {err.strip()[-2000:]}")
    loop = json.loads(out.strip().splitlines()[-1])
    result = _at_server(server.stats(), times, records)
    result.update(statuses=loop["statuses"], client_elapsed_s=loop["elapsed_s"])
    if loop["statuses"].get("201", 0) != records:
        result["warning"] = f"only {loop['statuses'].get('201', 0)} of {records} answers were 201"
    return result


def _store_snapshot(path: Path) -> Any:
    """What the limit store holds (parsed if JSON), or None if there is no file."""
    if not path.exists():
        return None
    text = path.read_text()
    try:
        return json.loads(text)
    except ValueError:
        return text[:500]


def _rounds(
    server: Server,
    tmp: Path,
    *,
    rounds: int,
    records: int,
    cap: int,
    store_for: Callable[[int], Path],
    label: str,
) -> list[dict[str, Any]]:
    """Alternate a CLI run and a raw run *rounds* times (CLI first in odd rounds)."""
    results: list[dict[str, Any]] = []
    for n in range(rounds):
        store = store_for(n)
        entry: dict[str, Any] = {
            "round": n + 1,
            "order": "cli, raw" if n % 2 == 0 else "raw, cli",
            "limit_store_before": _store_snapshot(store),
        }
        for kind in ("cli", "raw") if n % 2 == 0 else ("raw", "cli"):
            if kind == "cli":
                entry["cli"] = run_cli(server, tmp, records, cap=cap, limit_store=store)
            else:
                entry["raw"] = run_raw(server, tmp, records)
        entry["limit_store_after"] = _store_snapshot(store)
        cli, raw = entry["cli"], entry["raw"]
        entry["ratio"] = round(cli["per_s"] / raw["per_s"], 4) if raw["per_s"] else 0.0
        entry["wall_ratio"] = round(raw["process_wall_s"] / cli["process_wall_s"], 4)
        steady = cli["after_1s_per_s"], raw["after_1s_per_s"]
        entry["after_1s_ratio"] = round(steady[0] / steady[1], 4) if all(steady) else None
        print(
            f"{label} round {n + 1}: CLI {cli['per_s']:.1f}/s, raw {raw['per_s']:.1f}/s, "
            f"ratio {entry['ratio']:.3f}, CLI 429s {cli['too_many_requests']}",
            file=sys.stderr, flush=True,
        )  # fmt: skip
        results.append(entry)
    return results


def _summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    if not entries:
        return {"rounds": 0}
    requests = sum(e["cli"]["requests"] for e in entries)
    throttled = sum(e["cli"]["too_many_requests"] for e in entries)
    return {
        "rounds": len(entries),
        "ratio": round(statistics.median(e["ratio"] for e in entries), 4),
        "wall_ratio": round(statistics.median(e["wall_ratio"] for e in entries), 4),
        "after_1s_ratio": median_or_none([e["after_1s_ratio"] for e in entries]),
        "cli_in_first_1s": median_or_none([e["cli"]["in_first_1s"] for e in entries]),
        "raw_in_first_1s": median_or_none([e["raw"]["in_first_1s"] for e in entries]),
        "cli_to_first_request_s": median_or_none([e["cli"]["to_first_request_s"] for e in entries]),
        "raw_to_first_request_s": median_or_none([e["raw"]["to_first_request_s"] for e in entries]),
        "cli_per_s": round(statistics.median(e["cli"]["per_s"] for e in entries), 1),
        "raw_per_s": round(statistics.median(e["raw"]["per_s"] for e in entries), 1),
        "cli_429s": throttled,
        "cli_requests": requests,
        "share_429": round(throttled / requests, 5) if requests else 0.0,
    }


_HEADER = re.compile(r"^(lock|unlock|update|status) \S+: (\d+) records in ([\d.]+) s")
_COUNT = re.compile(r"^  (succeeded|failed|skipped|unfinished)\s*(\d+)$")
_CODE = re.compile(r"^    ([A-Z_]+)\s+(\d+)$")
_REQUESTS = re.compile(r"^  requests (\d+)\b.*?, retries (\d+), 429s (\d+)")


def parse_reports(text: str) -> dict[str, dict[str, Any]]:
    """The bulk reports in *text*, as `BulkReport.summary` prints them, by operation."""
    reports: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        if match := _HEADER.match(line):
            current = {"records": int(match[2]), "wall_s": float(match[3]), "by_code": {}}
            reports[match[1]] = current
        elif current is None:
            continue
        elif match := _COUNT.match(line):
            current[match[1]] = int(match[2])
        elif match := _CODE.match(line):
            current["by_code"][match[1]] = int(match[2])
        elif match := _REQUESTS.match(line):
            current.update(requests=int(match[1]), retries=int(match[2]), throttled=int(match[3]))
            current = None
    return reports


def run_demo_counts(deals: int | None) -> dict[str, Any]:
    """Run the demo's function here, and read requests per record from its reports."""
    out = io.StringIO()
    started = time.perf_counter()
    code = asyncio.run(run_demo(out) if deals is None else run_demo(out, deals=deals))
    elapsed = time.perf_counter() - started
    text = out.getvalue()
    reports = parse_reports(text)
    missing = [op for op in ("lock", "unlock") if "requests" not in reports.get(op, {})]
    if missing:
        raise RuntimeError(f"no {', '.join(missing)} report in the demo's output:\n{text}")
    result: dict[str, Any] = {"exit_code": code, "elapsed_s": round(elapsed, 2)}
    faults: list[str] = []
    for op, expected in (("lock", DEMO_EXPECTED_LOCK_CODES), ("unlock", frozenset({"SUCCESS"}))):
        report = reports[op]
        report["requests_per_record"] = round(report["requests"] / report["records"], 4)
        result[op] = report
        if report["retries"] or report["throttled"] or report.get("unfinished"):
            faults.append(
                f"{op}: {report['retries']} retries, {report['throttled']} 429s, "
                f"{report.get('unfinished', 0)} unfinished"
            )
        odd = {c: n for c, n in report["by_code"].items() if c not in expected}
        if odd:
            faults.append(f"{op}: unexpected codes {odd}")
    if code != 0:
        faults.append(f"exit code {code}")
    result["faults"] = faults
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print the Markdown section."""
    prog = "python -m benchmarks.first_second"
    args, rounds = parse_options(
        prog, argv, rounds=ROUNDS, rounds_help="alternated rounds per scenario",
        quick_help=f"smoke check: 1 round, {QUICK_RECORDS} records, a {QUICK_DEMO_DEALS}-deal demo",
    )  # fmt: skip
    records = QUICK_RECORDS if args.quick else RECORDS
    meta: dict[str, Any] = {
        **run_meta(prog),
        "records": records,
        "rounds": rounds,
        "org_limit": ORG_LIMIT,
        "latency_s": LATENCY,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zl-first-second-") as tmp_name, Server() as server:
        tmp = Path(tmp_name)
        # Warm the disk cache and the bytecode of both clients; not counted.
        run_cli(server, tmp, WARM_UP_RECORDS, cap=ORG_LIMIT, limit_store=tmp / "warm-up.json")
        run_raw(server, tmp, WARM_UP_RECORDS)
        cap20 = _rounds(
            server, tmp, rounds=rounds, records=records, cap=ORG_LIMIT,
            store_for=lambda n: tmp / f"cold-{n}.json", label="cap 20",
        )  # fmt: skip
        kept = tmp / "limits.json"
        cap40 = _rounds(
            server, tmp, rounds=rounds, records=records, cap=OVER_CAP,
            store_for=lambda n: kept, label="cap 40",
        )  # fmt: skip
    demo = run_demo_counts(QUICK_DEMO_DEALS if args.quick else None)
    meta["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["total_s"] = round(time.perf_counter() - started, 1)
    results: dict[str, Any] = {
        "meta": meta,
        "cap20": {"summary": _summary(cap20), "rounds": cap20},
        "cap40": {
            "summary": _summary(cap40),
            "cold": _summary(cap40[:1]),
            "warm": _summary(cap40[1:]),
            "rounds": cap40,
        },
        "demo": demo,
    }
    _print(results, sys.stdout)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _print(results: dict[str, Any], out: IO[str]) -> None:
    meta, demo = results["meta"], results["demo"]
    c20, c40 = results["cap20"], results["cap40"]

    def say(text: str = "") -> None:
        print(text, file=out)

    say("### Issue 14: full speed from the first second (CLI against raw aiohttp)\n")
    say(f"{describe_run(meta)}{meta['total_s']} s in all.\n")
    say(
        f"The fake CRM in its own process, org limit {meta['org_limit']} in flight, "
        f"{meta['latency_s'] * 1000:.0f} ms latency, a fresh org of {meta['records']:,} "
        "records before every run. Each client is a process of its own: "
        "`zoho-locking lock --concurrency N -q --report ...`, and the raw loop "
        "(`benchmarks/_rawloop.py`: 20 aiohttp workers pulling ids from one iterator, "
        "`TCPConnector(limit=20)`, `session.post` + `resp.read()`, no retries). *req/s* is "
        "measured at the server: requests not answered 429 over the span from the first "
        "arrival to the last. *Ratio* is CLI / raw within a round (two neighbouring runs, "
        "their order alternated); the figure is the median of the rounds' ratios. *First "
        "1 s*: requests that arrived within one second of the first (ideal 400); *after "
        "1 s*: arrivals over the rest of the span, per second, and their CLI / raw ratio "
        "(a slow start shows in the first, a slow run in both). *Start-up*: from the "
        "process's start to the server's first arrival. *Wall*: the whole process; *wall "
        "ratio*: raw's wall time / the CLI's (1.0: as fast).\n"
    )
    headers = (
        "| round | order | CLI req/s | raw req/s | ratio | first 1 s CLI / raw "
        "| after 1 s CLI / raw req/s (ratio) | CLI 429s (share) | start-up CLI / raw s "
        "| wall CLI / raw s (ratio) |"
    )

    def table(entries: list[dict[str, Any]], states: bool) -> None:
        say(headers if not states else headers.replace("| order |", "| order | store |"))
        say("|---" * (headers.count("|") - 1 + (1 if states else 0)) + "|")
        for n, e in enumerate(entries):
            cli, raw = e["cli"], e["raw"]
            state = ""
            if states:
                state = "cold | " if n == 0 else "warm | "
            say(
                f"| {e['round']} | {e['order']} | {state}{cli['per_s']:.1f} | {raw['per_s']:.1f} "
                f"| {e['ratio']:.3f} | {cli['in_first_1s']} / {raw['in_first_1s']} "
                f"| {num(cli['after_1s_per_s'], '.1f')} / {num(raw['after_1s_per_s'], '.1f')} "
                f"({num(e['after_1s_ratio'], '.3f')}) "
                f"| {cli['too_many_requests']} ({cli['share_429']:.2%}) "
                f"| {num(cli['to_first_request_s'], '.2f')} / "
                f"{num(raw['to_first_request_s'], '.2f')} "
                f"| {cli['process_wall_s']:.2f} / {raw['process_wall_s']:.2f} "
                f"({e['wall_ratio']:.3f}) |"
            )

    def extras(x: dict[str, Any]) -> str:
        return (
            f"after the first second the ratio is {num(x['after_1s_ratio'], '.3f')}; "
            f"first second {num(x['cli_in_first_1s'], '.0f')} requests against raw's "
            f"{num(x['raw_in_first_1s'], '.0f')}; start-up "
            f"{num(x['cli_to_first_request_s'], '.2f')} s against "
            f"{num(x['raw_to_first_request_s'], '.2f')} s; by whole-process wall "
            f"time the ratio is {x['wall_ratio']:.3f} (medians)"
        )

    s20 = c20["summary"]
    say("**1. Cap 20 (= the org's limit).** Every CLI run cold (a new `ZOHO_LIMIT_STORE`).\n")
    table(c20["rounds"], states=False)
    say(
        f"\nMedian ratio **{s20['ratio']:.3f}** (target >= {TARGET_CAP20}: "
        f"{met(s20['ratio'] >= TARGET_CAP20)}); medians CLI {s20['cli_per_s']} req/s, raw "
        f"{s20['raw_per_s']} req/s; {extras(s20)}.\n"
    )
    s40, cold, warm = c40["summary"], c40["cold"], c40["warm"]
    say(
        f"**2. Cap {OVER_CAP} (twice the org's limit)** against the same raw loop (20 workers). "
        "One `ZOHO_LIMIT_STORE` file kept across the rounds: round 1 cold (no file), the "
        "others warm.\n"
    )
    table(c40["rounds"], states=True)
    say()
    lines = [("cold (round 1)", cold), ("warm (rounds 2+)", warm), ("overall", s40)]
    for name, x in lines:
        if not x["rounds"]:
            say(f"- {name}: no rounds.")
            continue
        say(
            f"- {name}: ratio **{x['ratio']:.3f}** (target >= {TARGET_CAP40}: "
            f"{met(x['ratio'] >= TARGET_CAP40)}), 429s **{x['share_429']:.2%}** "
            f"({x['cli_429s']} of {x['cli_requests']} requests; target < {TARGET_429:.0%}: "
            f"{met(x['share_429'] < TARGET_429)}); {extras(x)}."
        )
    after = c40["rounds"][-1]["limit_store_after"]
    store_note = (
        f"after the last round it held `{json.dumps(after)}`"
        if after is not None
        else "the CLI never wrote it (this code ignores `ZOHO_LIMIT_STORE`), so every "
        "round started cold"
    )
    say(f"\nThe limit store: {store_note}.\n")
    lock, unlock = demo["lock"], demo["unlock"]
    faults = "; ".join(demo["faults"]) if demo["faults"] else "none"
    say(
        f"**3. Demo** (`zoho-locking demo`'s function, {lock['records']:,} deals, "
        f"{demo['elapsed_s']} s): requests per record, lock **{lock['requests_per_record']:.3f}** "
        f"({lock['requests']:,} requests), unlock **{unlock['requests_per_record']:.3f}** "
        f"({unlock['requests']:,} requests); target 1.00 each. Faults (retries, 429s, "
        f"unfinished, codes other than the demo's planted ones): {faults}."
    )
    extra = lock["requests"] - lock["records"]
    if extra > 0:
        already = lock["by_code"].get("ALREADY_LOCKED", 0)
        say(
            f"The lock's {extra} requests over one per record: the demo plants {already} "
            "deals locked by a rule, and a 403 `NOT_ALLOWED` is told apart from "
            '"already locked" by one look-up of the record\'s locks.'
        )
    say(
        f"\n**4. Per-request overhead at zero latency** is not measured here: it is scenario 1 "
        f"of `python -m benchmarks --only overhead` (issue 14's target: >= {TARGET_OVERHEAD})."
    )
    rows = [e[k] for e in c20["rounds"] + c40["rounds"] for k in ("cli", "raw")]
    cpu = statistics.median(r["server_cpu_us_per_request"] for r in rows)
    peaks = [e["cli"]["peak_in_flight"] for e in c40["rounds"]]
    say(
        f"\nAt cap {OVER_CAP} the server saw at most {max(peaks)} of the CLI's requests in "
        f"flight (from {min(peaks)} to {max(peaks)} over the rounds)."
    )
    say(
        f"\nNotes: the server spent a median {cpu:.0f} us of CPU per request on one core, "
        f"so a cycle of 20 requests lasts 50 ms plus up to 20 x that: this server allows "
        f"between about {20 / (LATENCY + 20 * cpu / 1e6):.0f} and 400 req/s to any client at "
        "the limit (raw's figure is what it allowed in this run), and the ratios, not the "
        "req/s, are the figures to compare between runs. Warnings: "
        + (
            "; ".join(
                f"{name} round {e['round']} {k}: {e[k]['warning']}"
                for name, group in (("cap 20", c20), ("cap 40", c40))
                for e in group["rounds"]
                for k in ("cli", "raw")
                if "warning" in e[k]
            )
            or "none"
        )
        + "."
    )


if __name__ == "__main__":
    sys.exit(main())
