"""Run every benchmark once and write RESULTS.md and results.json.

``python -m benchmarks`` (or ``python benchmarks/run.py``); ``--help`` lists
the options. See benchmarks/README.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _inprocess, _network
from ._procs import git_commit, git_dirty
from ._report import evaluate, render_markdown
from .compare import compare

__all__ = ["SCENARIOS", "main"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCENARIOS = ("overhead", "saturation", "overload", "limiter", "memory", "latency")
#: Stay this far below the issue's ten minutes when deciding on optional runs.
BUDGET_S = 540.0

# Sizes of a full run (the issue's) and of a quick smoke run (--quick).
FULL: dict[str, Any] = {
    "overhead_records": 20_000, "overhead_rounds": 5, "overhead_concurrency": 10,
    "saturation_records": 6_000, "overload_records": 6_000,
    "limiter_requests": 3_000, "limiter_rate": 100.0,
    "memory_sizes": (100_000, 1_000_000),
    "latency_requests": 50_000, "latency_repeats": 3, "profile_requests": 20_000,
}  # fmt: skip
QUICK: dict[str, Any] = {
    "overhead_records": 2_000, "overhead_rounds": 2, "overhead_concurrency": 10,
    "saturation_records": 800, "overload_records": 800,
    "limiter_requests": 300, "limiter_rate": 100.0,
    "memory_sizes": (10_000, 100_000),
    "latency_requests": 5_000, "latency_repeats": 1, "profile_requests": 2_000,
}  # fmt: skip


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _machine(argv: Sequence[str]) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *argv]),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "zoho_locking": _version("zoho-locking"),
        "aiohttp": _version("aiohttp"),
        "aiolimiter": _version("aiolimiter"),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _memory_child(count: int, *, trace: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks._memory", "--ids", str(count)]
    if trace:
        command.append("--trace")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _memory(sizes: Sequence[int], started: float, *, trace_largest: bool) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    small, large = sizes
    for count in sizes:
        runs[f"rss_{count}"] = _memory_child(count, trace=False)
        print(f"  memory {count:,} ids: {runs[f'rss_{count}']['peak_rss_mb']} MB", flush=True)
    runs[f"traced_{small}"] = _memory_child(small, trace=True)
    # tracemalloc slows a run about fivefold: trace the largest size only if that
    # still fits in the time budget, judging by how much it slowed the small run.
    slowdown = runs[f"traced_{small}"]["elapsed_s"] / max(runs[f"rss_{small}"]["elapsed_s"], 0.01)
    estimate = runs[f"rss_{large}"]["elapsed_s"] * slowdown * 1.15
    spent = time.perf_counter() - started
    result: dict[str, Any] = {"sizes": list(sizes), "runs": runs}
    if trace_largest and spent + estimate < BUDGET_S:
        runs[f"traced_{large}"] = _memory_child(large, trace=True)
    else:
        result["traced_largest_skipped"] = (
            f"skipped: it would take about {estimate:.0f} s after {spent:.0f} s spent, "
            f"past the runner's budget of {BUDGET_S:.0f} s"
            if trace_largest
            else "skipped (--no-trace-largest)"
        )
    result["peak_rss_mb"] = runs[f"rss_{large}"]["peak_rss_mb"]
    result["growth_mb"] = round(
        runs[f"rss_{large}"]["peak_rss_mb"] - runs[f"rss_{small}"]["peak_rss_mb"], 1
    )
    for name, run in runs.items():
        if "traced_peak_mb" in run:
            result[f"{name}_peak_mb"] = run["traced_peak_mb"]
    return result


async def _network_scenarios(
    wanted: set[str], sizes: dict[str, Any], results: dict[str, Any]
) -> None:
    server = await _network.ServerProcess.start()
    try:
        if "overhead" in wanted:
            print("overhead ...", flush=True)
            results["overhead"] = await _network.overhead(
                server,
                records=sizes["overhead_records"],
                rounds=sizes["overhead_rounds"],
                concurrency=sizes["overhead_concurrency"],
            )
        if "saturation" in wanted:
            print("saturation ...", flush=True)
            results["saturation"] = await _network.saturation(
                server, records=sizes["saturation_records"]
            )
        if "overload" in wanted:
            print("overload ...", flush=True)
            results["overload"] = await _network.overload(
                server, records=sizes["overload_records"], contrast=True
            )
        if "limiter" in wanted:
            print("limiter ...", flush=True)
            results["limiter"] = await _network.limiter(
                server, requests=sizes["limiter_requests"], rate=sizes["limiter_rate"]
            )
    finally:
        await server.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark zoho-locking against raw aiohttp and the fake CRM's limits.",
    )
    parser.add_argument(
        "--only", metavar="NAMES", help=f"comma-separated subset of: {', '.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, for checking the runner works"
    )
    parser.add_argument(
        "--json", type=Path, help="results file (default for full runs: benchmarks/results.json)"
    )
    parser.add_argument(
        "--markdown", type=Path, help="report (default for full runs: benchmarks/RESULTS.md)"
    )
    parser.add_argument(
        "--compare", type=Path, metavar="OLD_JSON", help="print the change from an earlier run"
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: write the report of an earlier run again from its results file",
    )
    parser.add_argument(
        "--no-trace-largest",
        action="store_true",
        help="skip tracemalloc at the largest memory size (RSS is still measured)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks asked for; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    wanted = set(SCENARIOS if not args.only else args.only.split(","))
    unknown = wanted - set(SCENARIOS)
    if unknown:
        _parser().error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.from_json is not None:
        # Re-render only (e.g. after a change to the report's wording): same run, same data.
        earlier: dict[str, Any] = json.loads(args.from_json.read_text())
        earlier["targets"] = evaluate(earlier["scenarios"])
        target = args.markdown or HERE / "RESULTS.md"
        target.write_text(render_markdown(earlier))
        print(f"wrote {target}")
        return 0
    full = not args.quick and wanted == set(SCENARIOS)
    json_path = args.json or (HERE / "results.json" if full else None)
    markdown_path = args.markdown or (HERE / "RESULTS.md" if full else None)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": _machine(argv), "sizes": sizes, "scenarios": {}}
    scenarios: dict[str, Any] = results["scenarios"]

    network = wanted & {"overhead", "saturation", "overload", "limiter"}
    if network:
        asyncio.run(_network_scenarios(network, sizes, scenarios))
    if "latency" in wanted:
        print("latency ...", flush=True)
        latency = _inprocess.cpu_per_request(
            requests=sizes["latency_requests"], concurrency=10, repeats=sizes["latency_repeats"]
        )
        latency["profile"] = _inprocess.profile_library(
            requests=sizes["profile_requests"], concurrency=10
        )
        scenarios["latency"] = latency
    if "memory" in wanted:
        print("memory ...", flush=True)
        scenarios["memory"] = _memory(
            sizes["memory_sizes"], started, trace_largest=not args.no_trace_largest
        )

    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["machine"]["total_runtime_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = evaluate(scenarios)
    text = render_markdown(results)
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {json_path}")
    if markdown_path is not None:
        markdown_path.write_text(text)
        print(f"wrote {markdown_path}")
    if json_path is None and markdown_path is None:
        print(text)
    if args.compare is not None:
        old = json.loads(args.compare.read_text())
        print(compare(old, results))
    return 0
