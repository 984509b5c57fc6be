"""``python -m benchmarks``: run the scenarios, write one report (Markdown, plots, results.json).

``--help`` lists the options; benchmarks/README.md says what each scenario measures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import ROOT
from .harness import Context, Scenario, Shared, Skip
from .registry import SCENARIOS

__all__ = ["compare", "main", "render"]

HERE = Path(__file__).resolve().parent
#: What a full run rewrites: left out when telling whether the checkout was dirty.
OUTPUTS = ("benchmarks/RESULTS.md", "benchmarks/results.json", "benchmarks/plots")


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine(argv: Sequence[str]) -> dict[str, Any]:
    """What a run notes at its start: when, how, on what, which code, how busy the machine was."""
    model, versions = "unknown", {}
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as info:
        model = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    for name in ("zoho-locking", "aiohttp", "matplotlib"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    excluded = [f":!{path}" for path in OUTPUTS]
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *argv]),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "versions": versions,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded)),
        "load_average_at_start": _load(),
    }


def _warnings(tree: Any, path: str = "") -> list[str]:
    if isinstance(tree, dict):
        found = [f"{path}: {tree['warning']}"] if "warning" in tree else []
        return found + [w for k, v in tree.items() for w in _warnings(v, f"{path}.{k}".strip("."))]
    if isinstance(tree, list):
        return [w for n, v in enumerate(tree) for w in _warnings(v, f"{path}[{n}]")]
    return []


def _run(scenario: Scenario, shared: Shared, quick: bool) -> dict[str, Any]:
    ctx = Context(scenario.name, dict(scenario.quick if quick else scenario.full), shared, quick)
    print(f"{scenario.name} ...", file=sys.stderr, flush=True)
    load, started, figures, status = _load()[0], time.perf_counter(), {}, "ok"
    try:
        figures = dict(scenario.run(ctx))
    except Skip as why:
        status = f"skipped: {why}"
    except Exception as error:  # report it and go on with the other scenarios
        traceback.print_exc()
        status = f"failed: {type(error).__name__}: {error}"
    targets = []
    for target in scenario.targets:
        shown, bound, met = target.judge(figures)
        targets.append({"figure": target.figure, "label": target.label, "value": shown,
                        "target": bound, "met": met})  # fmt: skip
    return {
        "measures": scenario.measures, "status": status, "sizes": ctx.sizes,
        "seconds": round(time.perf_counter() - started, 1), "load_1min": [load, _load()[0]],
        "figures": figures, "targets": targets, "warnings": _warnings(ctx.data),
        "report": ctx.lines, "data": ctx.data,
    }  # fmt: skip


def _size(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " and ".join(map(_size, value))
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(results: dict[str, Any], report: Path | None, json_path: Path | None) -> str:
    """The Markdown report of *results*, its links relative to *report*'s directory."""
    m, where = results["machine"], report.parent if report else None

    def link(path: Path) -> str:
        return os.path.relpath(path, where) if where else str(path)

    dirty = " **with uncommitted changes** (outside the results)" if m["dirty"] else ""
    numbers = f"; [{json_path.name}]({link(json_path)}) holds every number" if json_path else ""
    lines = [
        "# Benchmark results", "",
        f"Written by `{m['command']}` in one run of commit `{m['commit']}`{dirty}: every figure "
        f"below comes from that run. What each scenario does: [README.md]"
        f"({link(HERE / 'README.md')}){numbers}.", "",
        "| | |", "|---|---|",
        f"| date | {m['date']} |",
        f"| machine | {m['cpu_count']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB, "
        f"{m['platform']} |",
        f"| Python | {m['python']} |",
        "| versions | " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + " |",
        f"| load average (1, 5, 15 min) at start / end | {m['load_average_at_start']} / "
        f"{m['load_average_at_end']} |",
        f"| run time | {m['total_s']:.0f} s |", "",
        "A load average above 0 at the start means other work shared the 2 cores: network "
        "figures are then lower and noisier, which is why targets on throughput are ratios "
        "of neighbouring runs.", "",
        "## Targets", "",
        "| scenario | measure | figure | target | met |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, s in results["scenarios"].items():
        for t in s["targets"]:
            ok = s["status"] == "ok"
            value, met = (t["value"], t["met"]) if ok else (s["status"], None)
            met = {True: "met", False: "**missed**", None: ""}[met]
            lines.append(f"| {name} | {t['label']} | {value} | {t['target']} | {met} |")
    for name, s in results["scenarios"].items():
        sizes = ", ".join(f"{k} {_size(v)}" for k, v in s["sizes"].items())
        lines += [
            "", f"## {name}", "",
            f"*{s['measures']}.* {f'Sizes: {sizes}. ' if sizes else ''}{s['seconds']} s; load "
            f"average (1 min) {s['load_1min'][0]} at its start, {s['load_1min'][1]} at its end.",
            "",
        ]  # fmt: skip
        if s["status"] != "ok":
            lines += [f"**{s['status']}**", ""]
        lines += s["report"]
        lines += [f"Warnings: {'; '.join(s['warnings']) or 'none'}."]
    return "\n".join(lines).rstrip() + "\n"


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The headline figures of two runs side by side, with the change of each."""
    lines = [f"{'':56s} {'old':>10} {'new':>10} {'change':>8}",
             f"{'commit / date':56s} {old['machine']['commit']:>10} {new['machine']['commit']:>10}"
             f"  {old['machine']['date'][:10]} / {new['machine']['date'][:10]}"]  # fmt: skip
    for name in dict.fromkeys([*old["scenarios"], *new["scenarios"]]):
        a = old["scenarios"].get(name, {}).get("figures", {})
        b = new["scenarios"].get(name, {}).get("figures", {})
        for key in dict.fromkeys([*a, *b]):
            x, y = a.get(key), b.get(key)
            row = f"{name + ': ' + key:56s} {x!s:>10} {y!s:>10}"
            if isinstance(x, int | float) and isinstance(y, int | float) and x:
                row += f" {(y - x) / abs(x):+8.1%}"
            lines.append(row)
    lines.append("On a shared 2-core machine network figures move by up to about 10% between "
                 "identical runs: compare runs made at quiet times, and repeat.")  # fmt: skip
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark zoho-locking (benchmarks/README.md). A full run rewrites "
        "benchmarks/RESULTS.md, plots/ and results.json; --quick or --only, only what "
        "--markdown / --json name.",
    )
    parser.add_argument("--list", action="store_true", help="print the scenarios' names")
    parser.add_argument("--only", metavar="A,B", help="run only these scenarios")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks it all works")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every number here")
    parser.add_argument("--markdown", type=Path, metavar="PATH",
                        help="write the report here, its plots in plots/ beside it")  # fmt: skip
    parser.add_argument("--compare", type=Path, nargs="+", metavar="JSON",
                        help="OLD: run, then print the change from OLD; OLD NEW: compare two "
                        "results files without running")  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenarios asked for; 0 if every one ran (met or not), 1 if one failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.list:
        print("\n".join(s.name for s in SCENARIOS))
        return 0
    if args.compare and len(args.compare) > 1:
        old, new = (json.loads(path.read_text()) for path in args.compare[:2])
        print(compare(old, new))
        return 0
    names = [s.name for s in SCENARIOS]
    wanted = args.only.split(",") if args.only else names
    if unknown := sorted(set(wanted) - set(names)):
        _parser().error(f"unknown scenarios: {', '.join(unknown)} (see --list)")
    full = not args.quick and not args.only
    json_path = args.json or (HERE / "results.json" if full else None)
    report = args.markdown or (HERE / "RESULTS.md" if full else None)
    plots = report.parent / "plots" if report else Path(tempfile.mkdtemp(prefix="zl-plots-"))
    results: dict[str, Any] = {"machine": machine(argv), "scenarios": {}}
    started, shared = time.perf_counter(), Shared(plots, report.parent if report else None)
    try:
        for scenario in SCENARIOS:
            if scenario.name in wanted:
                results["scenarios"][scenario.name] = _run(scenario, shared, args.quick)
    finally:
        shared.close()
    results["machine"].update(load_average_at_end=_load(), total_s=time.perf_counter() - started)
    text = render(results, report, json_path)
    # One line for each list of numbers (the time series), so the file stays small.
    numbers = json.dumps(results, indent=1)
    numbers = re.sub(r"\[[-\d.eE,\s]+\]", lambda m: re.sub(r"\s+", " ", m[0]), numbers)
    for path, content in ((json_path, numbers + "\n"), (report, text)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            print(f"wrote {path}", file=sys.stderr)
    if report is None:
        print(text)
    if args.compare:
        print(compare(json.loads(args.compare[0].read_text()), results))
    print(f"{results['machine']['total_s']:.0f} s in all", file=sys.stderr)
    return int(any(s["status"].startswith("failed") for s in results["scenarios"].values()))
