"""Pure statistics for the benchmark: no I/O, so `bench/test_stats.py` needs no services."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks.

    Linear interpolation (numpy's default) rather than nearest rank, so p99 of a small sample
    is not simply its maximum; NaN for no values, because a scenario that produced no latency
    must not look fast.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(latencies_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99, mean and max of latencies in milliseconds, rounded for the report."""
    if not latencies_ms:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "p99": math.nan, "mean": math.nan}
    return {
        "n": len(latencies_ms),
        "p50": round(percentile(latencies_ms, 50), 1),
        "p95": round(percentile(latencies_ms, 95), 1),
        "p99": round(percentile(latencies_ms, 99), 1),
        "mean": round(sum(latencies_ms) / len(latencies_ms), 1),
        "max": round(max(latencies_ms), 1),
    }


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 for an empty or instantaneous interval instead of a division error."""
    return count / seconds if seconds > 0 else 0.0


def ratio(value: float, reference: float) -> float:
    """`value / reference`, NaN when there is no reference (e.g. the baseline was skipped)."""
    if reference <= 0 or math.isnan(reference) or math.isnan(value):
        return math.nan
    return value / reference


def per_thousand(amount: float, orders: int) -> float:
    """`amount` per 1,000 orders (CPU seconds, requests), NaN when no order was processed."""
    return amount * 1000 / orders if orders > 0 else math.nan


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs: memory growth per order in the long run."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys must have the same length")
    n = len(xs)
    if n < 2:
        return math.nan
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return math.nan
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most events inside any half-open interval of `window` seconds (sorted `times`).

    Used to check a sliding-window request budget from the outside: the provider counts the
    same way.
    """
    best = 0
    start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def inflight_ceiling(in_flight: int, service_seconds: float) -> float:
    """Little's law: a pipeline holding `in_flight` requests of `service_seconds` each can
    finish at most in_flight / service_seconds per second."""
    return in_flight / service_seconds if service_seconds > 0 else math.inf


def per_order(amount: float | None, orders: int) -> float:
    """`amount` per order (CPU ms, statements, sends); NaN when it was not measured or no order
    was processed, so a missing counter never reads as zero cost."""
    if amount is None or orders <= 0:
        return math.nan
    return amount / orders


def goal_line(
    name: str, cpu_ms: float, pipe_ms: float, goal_ms: float = 2.0, stretch_ms: float = 1.0
) -> str:
    """The headline of one worker scenario: its CPU per order against the goal, the stretch
    goal and the bare pipe, e.g. `worker x1 @ 0 ms: 1.83 ms/order (goal 2.0: OK, 0.92x;
    stretch 1.0: 1.83x; pipe x46)`."""
    if math.isnan(cpu_ms):
        return f"{name}: CPU per order n/a"

    def verdict(limit: float) -> str:
        return f"{'OK' if cpu_ms <= limit else 'not met'}, {cpu_ms / limit:.2f}x"

    pipe = ratio(cpu_ms, pipe_ms)
    pipe_text = "pipe n/a" if math.isnan(pipe) else f"pipe x{pipe:.0f}"
    return (
        f"{name}: {cpu_ms:.2f} ms/order (goal {goal_ms:.1f}: {verdict(goal_ms)}; "
        f"stretch {stretch_ms:.1f}: {verdict(stretch_ms)}; {pipe_text})"
    )
