"""What every benchmark is given (options, a recorder for its rows) and the timing helpers.

A benchmark module exposes ``NAME``, ``TITLE`` and ``run(options, recorder)``. It records rows of
samples; a row may name a *baseline* row of the same benchmark, measured in the same run, and its
ratio is ``p50 / baseline p50``. On a shared, noisy machine absolute figures drift from run to run
while same-run ratios stay meaningful, so ratios are what the table leads with.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from rich.console import Console

from bench.stats import Summary, ratio

# every seeded generator in the suite starts from this, so two runs write identical data
SEED = 20240611


@dataclass(frozen=True)
class Options:
    quick: bool
    cold: bool
    # scratch space for this run (stack homes, SQLite catalogs, data); removed at the end
    workdir: Path
    # the shared binary cache ($VXP_CACHE): stacks start from it warm
    cache: Path
    console: Console

    def scale(self, quick: int, full: int) -> int:
        """Pick the operation count for this run's size."""
        return quick if self.quick else full


@dataclass(frozen=True)
class Row:
    benchmark: str
    case: str
    unit: str
    # None: the case was skipped; ``note`` says why
    summary: Summary | None
    baseline: str | None = None
    ratio: float | None = None
    note: str = ""


@dataclass
class Recorder:
    """Collects one benchmark's rows and the notes (anchors, caveats) printed under the table."""

    benchmark: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        case: str,
        values: Sequence[float],
        unit: str,
        *,
        baseline: str | None = None,
        count: int | None = None,
        note: str = "",
    ) -> Row:
        """Record ``values`` (already in ``unit``); ``baseline`` names an earlier case.

        ``count`` replaces the sample count when one value aggregates many operations (a
        throughput), so the table's n still says how much work stands behind the figure.
        """
        summary = Summary.of(values)
        if count is not None:
            summary = replace(summary, n=count)
        row_ratio = None
        if baseline is not None:
            base = self.find(baseline)
            if base.summary is not None:
                row_ratio = ratio(summary.p50, base.summary.p50)
        row = Row(self.benchmark, case, unit, summary, baseline, row_ratio, note)
        self.rows.append(row)
        return row

    def skip(self, case: str, reason: str) -> None:
        self.rows.append(Row(self.benchmark, case, "", None, note=reason))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def find(self, case: str) -> Row:
        for row in self.rows:
            if row.case == case:
                return row
        raise KeyError(f"{self.benchmark}: no row {case!r} to use as a baseline")


class Benchmark(Protocol):
    NAME: str
    TITLE: str

    def run(self, options: Options, recorder: Recorder) -> None: ...


def timed(action: Callable[[], object]) -> float:
    """Seconds one call of ``action`` took, on the monotonic high-resolution clock."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def ms(seconds: Sequence[float]) -> list[float]:
    return [s * 1000 for s in seconds]


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block (the toolchains read os.environ)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
