"""The benchmark harness lists its scenarios and judges targets (nothing is timed here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.harness import Target
from benchmarks.registry import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
#: Every scenario the benchmarks kept when they became one harness (issue 25).
EXPECTED = {
    "overhead", "saturation", "overload", "limiter", "memory", "latency", "first-second",
    "demo", "where", "selection-memory", "shared-budget",
}  # fmt: skip


def test_list_prints_one_name_a_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert done.stdout.splitlines() == [scenario.name for scenario in SCENARIOS]


def test_registry_is_complete() -> None:
    names = [scenario.name for scenario in SCENARIOS]
    assert len(names) == len(set(names))
    assert set(names) >= EXPECTED
    for scenario in SCENARIOS:
        assert scenario.measures and callable(scenario.run)
        assert scenario.full.keys() == scenario.quick.keys(), scenario.name


def test_targets_are_judged_on_the_figures() -> None:
    target = Target("ratio", "library / raw", ">=", 0.95)
    assert target.judge({"ratio": 0.96}) == ("0.960", ">= 0.950", True)
    assert target.judge({"ratio": 0.94})[2] is False
    assert target.judge({}) == ("not measured", ">= 0.950", False)
    within = Target("deviation", "rate", "within", 0.02, "{:+.2%}")
    assert within.judge({"deviation": -0.015}) == ("-1.50%", "± 2.00%", True)
    assert Target("cpu", "reported").judge({"cpu": 1.0})[2] is None


def test_a_figure_rounded_onto_its_bound_says_which_side() -> None:
    shown, _, met = Target("ratio", "shared / alone", ">=", 0.95).judge({"ratio": 0.9499})
    assert (shown, met) == ("0.950 (0.9499)", False)
