"""What the benchmarks that print a RESULTS.md section share: options, the run, medians.

`benchmarks.first_second` and `benchmarks.where` take the same options
(`parse_options`: ``--rounds N``, ``--json PATH``, ``--quick``), note and describe
their run the same way (`run_meta`, `describe_run`), and summarise their rounds
by medians that skip missing figures (`median_or_none`), with `met` and `num`
for the text.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
from collections.abc import Iterable
from typing import Any

from ._procs import git_commit, git_dirty

__all__ = ["describe_run", "median_or_none", "met", "num", "parse_options", "run_meta"]


def parse_options(
    prog: str, argv: list[str] | None, *, rounds: int, rounds_help: str, quick_help: str
) -> tuple[argparse.Namespace, int]:
    """Parse ``--rounds N``, ``--json PATH`` and ``--quick``; return them and the rounds to run.

    Without ``--rounds`` a run has *rounds* rounds, a quick one 1. *rounds_help*
    says what a round is, *quick_help* what ``--quick`` runs.
    """
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument(
        "--rounds", type=int, metavar="N",
        help=f"{rounds_help} (default {rounds}; 1 with --quick)",
    )  # fmt: skip
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args(argv)
    chosen: int = args.rounds if args.rounds is not None else (1 if args.quick else rounds)
    if chosen < 1:
        parser.error("--rounds must be at least 1")
    return args, chosen


def run_meta(prog: str) -> dict[str, Any]:
    """What a run notes about itself at the start: when, how it was called, where, which code."""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([prog, *sys.argv[1:]]),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def describe_run(meta: dict[str, Any]) -> str:
    """The start of a section's first line: the command, date, commit, machine and load.

    *meta* is `run_meta`'s, with ``load_average_at_end`` added at the end of the run.
    """
    dirty = " (with uncommitted changes outside benchmarks/)" if meta["git_dirty"] else ""
    return (
        f"`{meta['command']}`, {meta['date']}, commit {meta['git_commit']}{dirty}, "
        f"{meta['cpu_count']} CPUs, Python {meta['python']}; load average at start / end "
        f"{meta['load_average_at_start']} / {meta['load_average_at_end']}; "
    )


def median_or_none(values: Iterable[Any]) -> float | None:
    """The median of *values* that are not None, to 4 places; None if every one is."""
    known = [float(v) for v in values if v is not None]
    return round(statistics.median(known), 4) if known else None


def met(ok: bool) -> str:
    """A target's verdict as the sections print it."""
    return "met" if ok else "**missed**"


def num(value: Any, spec: str) -> str:
    """*value* formatted by *spec*, or ``n/a`` for None."""
    return "n/a" if value is None else format(value, spec)
