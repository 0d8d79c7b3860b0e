"""Pure statistics and formatting helpers: no I/O, no clocks, so they are unit-tested directly."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks.

    This is the definition numpy calls "linear" (the default there too), so figures compare with
    other tools' reports; with few samples p99 is close to the maximum, which is why every row
    also reports its count.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p99: float
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(
            n=len(values),
            p50=percentile(values, 50),
            p99=percentile(values, 99),
            mean=sum(values) / len(values),
            min=min(values),
            max=max(values),
        )


def ratio(value: float, baseline: float) -> float | None:
    """``value / baseline``; None when the baseline is zero (no meaningful ratio)."""
    if baseline == 0:
        return None
    return value / baseline


def format_ratio(value: float | None) -> str:
    """``1.23x`` with two significant decimals below 10 and fewer above; ``-`` for no ratio."""
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf"
    if value >= 100:
        return f"{value:.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


def format_value(value: float | None) -> str:
    """A figure with three significant digits (``0.0123``, ``1.23``, ``123``, ``12345``)."""
    if value is None or math.isnan(value):
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    # round first, so 9.9996 shows as 10.0 rather than 10.00 (four digits)
    value = float(f"{value:.3g}")
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    # small values keep three significant digits rather than rounding to zero
    return f"{value:.{2 - math.floor(math.log10(magnitude))}f}"
