"""The benchmark's pure statistics (`pytest bench`); no services, not in the main suite's
testpaths."""

from __future__ import annotations

import math

import pytest

from bench import stats


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(x) for x in range(1, 101)]  # 1..100
    assert stats.percentile(values, 50) == pytest.approx(50.5)
    assert stats.percentile(values, 99) == pytest.approx(99.01)
    assert stats.percentile(values, 0) == 1
    assert stats.percentile(values, 100) == 100
    assert stats.percentile([7.0], 95) == 7.0
    assert stats.percentile([30.0, 10.0, 20.0], 50) == 20.0  # order of input does not matter


def test_percentile_of_nothing_is_nan_and_bad_q_is_refused() -> None:
    assert math.isnan(stats.percentile([], 50))
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_summary_reports_n_and_the_three_percentiles() -> None:
    summary = stats.summarize([10.0] * 98 + [100.0, 1000.0])
    assert summary["n"] == 100
    assert summary["p50"] == 10.0
    assert summary["p99"] == pytest.approx(109.0)
    assert summary["max"] == 1000.0
    assert math.isnan(stats.summarize([])["p99"])


def test_rate_ratio_and_per_thousand_guard_empty_inputs() -> None:
    assert stats.rate(300, 10.0) == 30.0
    assert stats.rate(5, 0.0) == 0.0
    assert stats.ratio(30.0, 600.0) == pytest.approx(0.05)
    assert math.isnan(stats.ratio(30.0, 0.0))
    assert math.isnan(stats.ratio(30.0, math.nan))
    assert stats.per_thousand(4.5, 300) == pytest.approx(15.0)
    assert math.isnan(stats.per_thousand(1.0, 0))


def test_slope_finds_growth_per_order() -> None:
    xs = [0.0, 1000.0, 2000.0, 3000.0]
    assert stats.slope(xs, [100.0, 100.5, 101.0, 101.5]) == pytest.approx(0.0005)
    assert math.isnan(stats.slope([1.0], [2.0]))
    assert math.isnan(stats.slope([1.0, 1.0], [2.0, 3.0]))


def test_max_in_window_counts_a_sliding_half_open_window() -> None:
    times = [0.0, 1.0, 14.9, 15.0, 15.5, 30.0]
    assert stats.max_in_window(times, 15.0) == 4  # 1.0, 14.9, 15.0, 15.5
    assert stats.max_in_window([], 15.0) == 0


def test_inflight_ceiling_is_littles_law() -> None:
    assert stats.inflight_ceiling(1, 0.2) == pytest.approx(5.0)
    assert stats.inflight_ceiling(64, 0.05) == pytest.approx(1280.0)
    assert stats.inflight_ceiling(1, 0.0) == math.inf


def test_the_allowed_rate_applies_every_window_at_once() -> None:
    from bench.ratelimit import allowed_in

    wfirma = [(15.0, 30), (60.0, 80), (3600.0, 2400)]
    assert allowed_in(15, wfirma) == 30
    assert allowed_in(60, wfirma) == 80  # 30 + 30 + 20: the minute binds before the 4th burst
    assert allowed_in(75, wfirma) == 110  # the first burst has left the minute window
