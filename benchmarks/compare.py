"""Compare two benchmark runs: ``python -m benchmarks.compare OLD.json [NEW.json]``.

NEW defaults to benchmarks/results.json. Prints the headline figures of both
runs side by side with the change in percent; ``--all`` prints every number.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["HEADLINE", "compare", "main"]

#: (dotted path under "scenarios", label, True if higher is better).
HEADLINE: tuple[tuple[str, str, bool], ...] = (
    ("overhead.raw_per_s", "overhead: raw aiohttp records/s", True),
    ("overhead.library_adaptive_per_s", "overhead: library records/s", True),
    ("overhead.ratio", "overhead: ratio library / raw", True),
    ("overhead.library_adaptive_client_cpu_us", "overhead: library client CPU us/request", False),
    ("overhead.raw_client_cpu_us", "overhead: raw client CPU us/request", False),
    ("saturation.requests_per_s", "saturation: requests/s", True),
    ("saturation.share_of_ideal", "saturation: share of 400/s", True),
    ("overload.records_per_s", "overload: records/s", True),
    ("overload.share_429", "overload: share of 429s", False),
    ("limiter.achieved_per_s", "limiter: requests/s", True),
    ("limiter.server_max_in_window_1s", "limiter: busiest second", False),
    ("memory.peak_rss_mb", "memory: peak RSS MB (largest size)", False),
    ("memory.growth_mb", "memory: RSS growth MB", False),
    ("latency.instant.library_lock_many.cpu_us_per_request", "latency: lock_many CPU us", False),
    ("latency.library_overhead_us", "latency: library overhead us/request", False),
    ("latency.yielding.library_overhead_us", "latency: overhead us, yielding", False),
)


def _lookup(tree: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _numbers(tree: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _numbers(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, int | float) and not isinstance(tree, bool):
        yield prefix, float(tree)


def _row(label: str, old: Any, new: Any, higher_is_better: bool | None) -> str:
    if not isinstance(old, int | float) or not isinstance(new, int | float):
        return f"{label:48s} {old!s:>12} {new!s:>12}"
    change = (new - old) / old * 100 if old else float("inf") if new else 0.0
    verdict = ""
    if higher_is_better is not None and abs(change) >= 5:
        verdict = "better" if (change > 0) == higher_is_better else "worse"
    return f"{label:48s} {old:12.4g} {new:12.4g} {change:+8.1f}%  {verdict}"


def compare(old: dict[str, Any], new: dict[str, Any], *, everything: bool = False) -> str:
    """Return a table of *old* and *new* results with the change of each figure."""
    lines = [
        f"{'':48s} {'old':>12} {'new':>12} {'change':>9}",
        f"{'date':48s} {old['machine']['date'][:10]:>12} {new['machine']['date'][:10]:>12}",
    ]
    if everything:
        olds = dict(_numbers(old.get("scenarios", {})))
        news = dict(_numbers(new.get("scenarios", {})))
        for path in sorted(olds.keys() | news.keys()):
            lines.append(_row(path, olds.get(path), news.get(path), None))
    else:
        for path, label, higher in HEADLINE:
            old_value = _lookup(old.get("scenarios", {}), path)
            new_value = _lookup(new.get("scenarios", {}), path)
            if old_value is not None or new_value is not None:
                lines.append(_row(label, old_value, new_value, higher))
    lines.append(
        "Differences under about 10% in the network scenarios are within run-to-run noise "
        "on a shared 2-core machine; compare runs made on the same machine."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the comparison of two results files."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__)
    parser.add_argument("old", type=Path, help="results.json of the earlier run")
    parser.add_argument(
        "new",
        type=Path,
        nargs="?",
        default=Path(__file__).resolve().parent / "results.json",
        help="results.json of the later run (default: benchmarks/results.json)",
    )
    parser.add_argument("--all", action="store_true", help="every number, not the headline")
    args = parser.parse_args(argv)
    old = json.loads(args.old.read_text())
    new = json.loads(args.new.read_text())
    print(compare(old, new, everything=args.all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
