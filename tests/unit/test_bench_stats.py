"""The benchmarks' pure helpers: percentiles, summaries, ratios and their formatting."""

from __future__ import annotations

import math

import pytest

from bench.core import Recorder
from bench.stats import Summary, format_ratio, format_value, percentile, ratio


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    # rank (4 - 1) * 0.99 = 2.97: between the third (3.0) and fourth (4.0) value
    assert percentile(values, 99) == pytest.approx(3.97)
    assert percentile([7.0], 99) == 7.0


def test_percentile_rejects_no_values_and_bad_quantiles() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_of_samples() -> None:
    summary = Summary.of([float(v) for v in range(1, 101)])
    assert summary.n == 100
    assert summary.p50 == pytest.approx(50.5)
    assert summary.p99 == pytest.approx(99.01)
    assert (summary.min, summary.max, summary.mean) == (1.0, 100.0, 50.5)


def test_ratio_and_its_formatting() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert format_ratio(None) == "-"
    assert format_ratio(1.0) == "1.00x"
    assert format_ratio(1.234) == "1.23x"
    assert format_ratio(12.34) == "12.3x"
    assert format_ratio(123.4) == "123x"
    assert format_ratio(math.inf) == "inf"


def test_values_keep_three_significant_digits() -> None:
    assert format_value(0) == "0"
    assert format_value(None) == "-"
    assert format_value(0.012345) == "0.0123"
    assert format_value(0.5) == "0.500"
    assert format_value(1.2345) == "1.23"
    assert format_value(12.345) == "12.3"
    assert format_value(9.9996) == "10.0"
    assert format_value(99.96) == "100"
    assert format_value(12345.6) == "12346"


def test_recorder_ratios_against_a_named_baseline() -> None:
    recorder = Recorder("demo")
    recorder.add("base", [10.0, 10.0, 10.0], "ms")
    row = recorder.add("other", [15.0, 15.0], "ms", baseline="base")
    assert row.ratio == pytest.approx(1.5)
    throughput = recorder.add("rate", [42.0], "ops/s", count=96)
    assert throughput.summary is not None and throughput.summary.n == 96
    recorder.skip("cold", "not measured")
    assert recorder.rows[-1].summary is None
    with pytest.raises(KeyError):
        recorder.add("orphan", [1.0], "ms", baseline="missing")
