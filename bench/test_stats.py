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


def test_per_order_is_nan_when_not_measured() -> None:
    assert stats.per_order(300.0, 200) == pytest.approx(1.5)
    assert math.isnan(stats.per_order(None, 200))
    assert math.isnan(stats.per_order(3.0, 0))


def test_goal_line_compares_with_the_goal_the_stretch_and_the_pipe() -> None:
    line = stats.goal_line("worker x1 @ 0 ms", 1.83, 0.04)
    assert line == (
        "worker x1 @ 0 ms: 1.83 ms/order "
        "(goal 2.0: OK, 0.92x; stretch 1.0: not met, 1.83x; pipe x46)"
    )
    assert "goal 2.0: not met, 6.25x" in stats.goal_line("w", 12.5, math.nan)
    assert "pipe n/a" in stats.goal_line("w", 12.5, math.nan)
    assert stats.goal_line("w", math.nan, 0.04) == "w: CPU per order n/a"


PERF_OUTPUT = """# started on Sun Dec  6 05:50:03 2026

500,,syscalls:sys_enter_sendto,29081388,100.00,,
3,,syscalls:sys_enter_sendmsg,29081388,100.00,,
7,,syscalls:sys_enter_recvfrom,29081388,100.00,,
0,,syscalls:sys_enter_recvmsg,29081388,100.00,,
40,,syscalls:sys_enter_write,29081388,100.00,,
0,,syscalls:sys_enter_writev,29081388,100.00,,
511,,syscalls:sys_enter_epoll_wait,29081388,100.00,,
0,,syscalls:sys_enter_epoll_pwait,29081388,100.00,,
"""


def test_perf_stat_output_becomes_counts_per_order() -> None:
    from bench.syscalls import parse_perf_stat, per_order_summary

    counts = parse_perf_stat(PERF_OUTPUT)
    assert counts is not None and counts["sendto"] == 500 and counts["epoll_wait"] == 511
    summary = per_order_summary(counts, 100)
    assert summary is not None
    assert summary["socket_sends_per_order"] == 5.03
    assert summary["socket_receives_per_order"] == 0.07
    assert summary["file_writes_per_order"] == 0.4
    assert summary["writes_per_order"] == 5.43  # uvloop writes sockets with write/writev
    assert summary["loop_iterations_per_order"] == 5.11
    assert per_order_summary(None, 100) is None
    not_counted = PERF_OUTPUT.replace("7,,", "<not counted>,,")
    assert parse_perf_stat(not_counted) is None  # a partial set would understate the cost
    assert parse_perf_stat("# started\n") is None


def test_database_counters_become_per_order_deltas() -> None:
    from bench.dbstats import Counters, phase_summary

    before = Counters(1000, {1: (10, "BEGIN"), 2: (5, "SELECT 1"), 3: (50, "COMMIT")})
    after = Counters(
        1400,
        {
            1: (210, "BEGIN"),
            2: (5, "SELECT 1"),
            3: (20, "COMMIT"),
            4: (100, "INSERT  INTO x\n VALUES ($1)"),
        },
    )
    summary = phase_summary(before, after, 100)
    assert summary["transactions_per_order"] == 4.0
    # 3 was reset in between (fewer calls than before): counted from zero; 2 did not run
    assert summary["statements"] == 200 + 20 + 100
    assert summary["statements_per_order"] == 3.2
    assert summary["top_statements"][0] == {"calls_per_order": 2.0, "query": "BEGIN"}
    assert summary["top_statements"][1]["query"] == "INSERT INTO x VALUES ($1)"
    without = phase_summary(Counters(1000), Counters(1250), 100)
    assert without["transactions_per_order"] == 2.5
    assert without["statements_per_order"] is None  # n/a, not zero


def _scenario(name: str, kind: str, processes: int, throughput: float, cpu: float) -> dict:
    return {
        "name": name,
        "kind": kind,
        "processes": processes,
        "latency_ms": 0,
        "in_flight": None,
        "orders": 200,
        "throughput": throughput,
        "cpu_ms_per_order": cpu,
        "cpu_seconds_per_1000": cpu,
        "paced": {"latency_ms": {"p50": 20.0, "p95": 30.0, "p99": 40.0}},
        "backlog_latency_ms": {"p99": 900.0},
        "rss_max_mb": [120.0] * processes,
        "database": None if kind.startswith("pipe") else {"transactions_per_order": 6.0},
        "syscalls": None,
    }


def test_report_adds_cpu_ratios_scale_out_and_n_a() -> None:
    from bench import report

    scenarios = [
        _scenario("pipe-serial x1", "pipe-serial", 1, 1000.0, 0.2),
        _scenario("pipe-batch x1", "pipe-batch", 1, 10000.0, 0.04),
        _scenario("worker x1 @ 0 ms", "worker", 1, 100.0, 1.83),
        _scenario("worker x2 @ 0 ms", "worker", 2, 180.0, 2.0),
    ]
    report.with_ratios(scenarios)
    x1, x2 = scenarios[2], scenarios[3]
    assert x1["cpu_ratio_to_pipe_batch"] == pytest.approx(45.8)
    assert x1["cpu_ratio_to_pipe_serial"] == pytest.approx(9.2)
    assert x1["cpu_ratio_to_goal"] == pytest.approx(0.92)
    assert x2["throughput_vs_x1"] == pytest.approx(1.8)
    assert "throughput_vs_x1" not in x1
    lines = report.headlines(scenarios)
    assert lines[0].startswith("worker x1 @ 0 ms: 1.83 ms/order (goal 2.0: OK, 0.92x;")
    assert report.table(scenarios).split()[2:4] == ["CPU", "ms/order"]  # the first metric
    pipe, _batch, worker, _ = report.rows(scenarios)
    assert worker["CPU ms/order"] == "1.83" and worker["xacts/order"] == "6"
    assert worker["writes/order"] == "n/a"  # not measurable here: n/a, never 0
    assert worker["stmts/order"] == "n/a"
    assert pipe["xacts/order"] == ""  # a pipe has no database
