"""What a scenario is and gets: `Scenario`, `Target`, `Context`, statistics and plots.

A scenario is ``run(ctx) -> figures``: it reads ``ctx.sizes``, keeps every number in
``ctx.data``, writes its report with ``ctx.say``, ``ctx.table`` and ``ctx.plot``, and
returns its headline figures, which the targets of its entry in `benchmarks.registry` judge.
"""

from __future__ import annotations

import operator
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._server import Server

__all__ = [
    "Context", "Line", "Panel", "Scenario", "Shared", "Skip", "Target", "alternate", "bins",
    "median", "num", "ratio", "rate",
]  # fmt: skip

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
    "==": operator.eq, "within": lambda value, bound: abs(value) <= bound,
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """A figure the scenario returns, judged by *op* against *bound* (no *op*: reported only)."""

    figure: str
    label: str
    op: str | None = None
    bound: float = 0.0
    fmt: str = "{:.3f}"

    def judge(self, figures: Mapping[str, Any]) -> tuple[str, str, bool | None]:
        """The figure as text, the target as text, and whether it was met (None: no target)."""
        value = figures.get(self.figure)
        shown = "not measured" if value is None else self.fmt.format(value)
        if self.op is None:
            return shown, "(reported)", None
        bound = self.fmt.format(self.bound).lstrip("+")
        met = value is not None and _OPS[self.op](value, self.bound)
        if shown.lstrip("+-") == bound and not met:  # rounded onto the bound: say which side
            shown += f" ({value:.6g})"
        bound = f"± {bound}" if self.op == "within" else f"{self.op} {bound}"
        return shown, bound, met


@dataclass(frozen=True)
class Scenario:
    """One entry of the registry."""

    name: str
    measures: str
    run: Callable[[Context], Mapping[str, Any]]
    full: Mapping[str, Any]
    quick: Mapping[str, Any]
    targets: tuple[Target, ...] = ()


class Skip(Exception):
    """Raised by a scenario that cannot run here; the message says why."""


@dataclass
class Line:
    """One series of a plot; *style* is a matplotlib format, or ``bar``."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    style: str = "-"


@dataclass
class Panel:
    """One set of axes of a plot."""

    ylabel: str
    lines: list[Line]
    xlabel: str = "seconds from the first request"
    xlim: tuple[float, float] | None = None


class Shared:
    """What the scenarios of one run share: the server process, a temporary directory, plots."""

    def __init__(self, plots: Path, report_dir: Path | None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="zl-bench-"))
        self.plots, self.report_dir = plots, report_dir
        self._server: Server | None = None
        self._tls_server: Server | None = None

    def server(self) -> Server:
        if self._server is None:
            self._server = Server()
        return self._server

    def tls_server(self) -> Server:
        if self._tls_server is None:
            self._tls_server = Server(str(self.tmp / "fake-ca.pem"))
        return self._tls_server

    def close(self) -> None:
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass
class Context:
    """A scenario's sizes, what it may use, and what it writes."""

    name: str
    sizes: dict[str, Any]
    shared: Shared
    quick: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    @property
    def server(self) -> Server:
        """The fake CRM in its own process (started on first use, shared by the run)."""
        return self.shared.server()

    @property
    def tls_server(self) -> Server:
        """The fake CRM over HTTPS, certified by a test CA (its PEM at ``.ca_path``)."""
        return self.shared.tls_server()

    @property
    def tmp(self) -> Path:
        """A directory of this scenario's own, removed at the end of the run."""
        path = self.shared.tmp / self.name
        path.mkdir(exist_ok=True)
        return path

    def log(self, message: str) -> None:
        """Progress on stderr."""
        print(f"  {self.name}: {message}", file=sys.stderr, flush=True)

    def say(self, *paragraphs: str) -> None:
        """Add paragraphs of Markdown to the report."""
        for text in paragraphs:
            self.lines += [text, ""]

    def table(self, head: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Add a Markdown table."""
        self.lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        self.lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
        self.lines.append("")

    def plot(self, name: str, title: str, panels: Sequence[Panel]) -> None:
        """Draw *panels* one above the other into ``<plots>/<name>.png`` and link it."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            self.say(f"*(Plot `{name}` not drawn: no matplotlib; `pip install -e '.[bench]'`.)*")
            return
        fig, _ = plt.subplots(len(panels), 1, figsize=(8, 0.6 + 2.6 * len(panels)))
        for ax, panel in zip(fig.axes, panels, strict=True):
            for line in panel.lines:
                if line.style == "bar":
                    width = line.xs[1] - line.xs[0] if len(line.xs) > 1 else 0.1
                    ax.bar(line.xs, line.ys, width=width, alpha=0.45, label=line.label,
                           align="edge", color="tab:red")  # fmt: skip
                else:  # a marker where a line would be too short to see
                    short = len(line.xs) < 2 and line.style[-1] in "-:"
                    ax.plot(line.xs, line.ys, line.style + "o" * short, label=line.label, ms=3)
            ax.set(xlabel=panel.xlabel, ylabel=panel.ylabel)
            if panel.xlim:
                ax.set_xlim(*panel.xlim)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best")
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        self.shared.plots.mkdir(parents=True, exist_ok=True)
        path = self.shared.plots / f"{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        self.data.setdefault("plots", []).append(path.name)
        where = self.shared.report_dir  # links relative to the report, else absolute
        self.say(f"![{title}]({os.path.relpath(path, where) if where else path})")


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None, to 4 places; None if there are none."""
    known = [float(v) for v in values if v is not None]
    return round(statistics.median(known), 4) if known else None


def num(value: float | None, spec: str = ".3f") -> str:
    """*value* formatted by *spec*, or ``n/a``."""
    return "n/a" if value is None else format(value, spec)


def ratio(a: float | None, b: float | None) -> float | None:
    """*a* / *b* to 4 places; None if either is missing or *b* is 0."""
    return round(a / b, 4) if a is not None and b else None


def alternate(
    rounds: int, runs: Mapping[str, Callable[[int], dict[str, Any]]], log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Run every kind once a round, the order rotated each round; one entry a round.

    Runs next to each other share the machine's load, so a ratio within a round is
    steadier than a ratio of medians: per-round ratios are what targets are judged by.
    """
    kinds, entries = list(runs), []
    for n in range(rounds):
        order = kinds[n % len(kinds) :] + kinds[: n % len(kinds)]
        entry: dict[str, Any] = {"round": n + 1, "order": ", ".join(order)}
        for kind in order:
            entry[kind] = runs[kind](n)
        log(f"round {n + 1} done ({entry['order']})")
        entries.append(entry)
    return entries


def bins(series: Mapping[str, Any]) -> list[float]:
    """The start of each bin of a server series, in seconds from its first arrival."""
    return [n * series["bin_s"] for n in range(len(series["ok"]))]


def rate(
    series: Mapping[str, Any], label: str, counts: Sequence[int] | None = None, style: str = "-",
    window: float = 1.0,
) -> Line:  # fmt: skip
    """Counts per bin of a server series (answered requests by default) as a rate per second,
    over a sliding *window*: 20 answers come back together every cycle, so short bins alias.

    The last bin, cut short by the run's end, is left out.
    """
    counts, bin_s = list(series["ok"] if counts is None else counts)[:-1], series["bin_s"]
    k = max(1, min(round(window / bin_s), len(counts)))
    ends = range(k, len(counts) + 1)
    return Line(label, [(end - k / 2) * bin_s for end in ends],
                [sum(counts[end - k : end]) / (k * bin_s) for end in ends], style)  # fmt: skip
