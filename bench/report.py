"""Presenting a run: a table on stdout, the JSON results and a PNG plot."""

from __future__ import annotations

import json
import math
import pstats
import re
from pathlib import Path
from typing import Any

from bench import stats
from bench.services import REPO

GOAL_MS, STRETCH_MS = 2.0, 1.0  # CPU ms per order of one worker process (issue 12)


def _pipe_value(scenarios: list[dict[str, Any]], key: str) -> dict[tuple[str, int], float]:
    return {
        (s["kind"], s["processes"]): s.get(key, math.nan)
        for s in scenarios
        if s["kind"].startswith("pipe")
    }


def with_ratios(scenarios: list[dict[str, Any]]) -> None:
    """Each worker scenario against the pipes and the goal, and N processes against one.

    Throughput at 0 ms as a fraction of the serial pipe with as many processes (what
    one-at-a-time could reach) and of the batched pipe (the machine's ceiling); CPU per order
    as a multiple of the batched and the serial pipe's and of the goal; x2 (and more)
    throughput as a multiple of x1 at the same latency and in-flight setting (scale-out)."""
    pipes = _pipe_value(scenarios, "throughput")
    pipe_cpu = _pipe_value(scenarios, "cpu_ms_per_order")
    batch = pipes.get(("pipe-batch", 1), math.nan)
    single = {
        (s["latency_ms"], s.get("in_flight")): s["throughput"]
        for s in scenarios
        if s["kind"] == "worker" and s["processes"] == 1
    }
    for s in scenarios:
        if s["kind"] != "worker":
            continue
        cpu = s.get("cpu_ms_per_order", math.nan)
        s["cpu_ratio_to_pipe_batch"] = round(
            stats.ratio(cpu, pipe_cpu.get(("pipe-batch", 1), math.nan)), 1
        )
        s["cpu_ratio_to_pipe_serial"] = round(
            stats.ratio(cpu, pipe_cpu.get(("pipe-serial", s["processes"]), math.nan)), 1
        )
        s["cpu_ratio_to_goal"] = round(stats.ratio(cpu, GOAL_MS), 2)
        if s["processes"] > 1:
            x1 = single.get((s["latency_ms"], s.get("in_flight")), math.nan)
            s["throughput_vs_x1"] = round(stats.ratio(s["throughput"], x1), 2)
        if s["latency_ms"] == 0:
            serial = pipes.get(("pipe-serial", s["processes"]), math.nan)
            s["ratio_to_pipe_serial"] = round(stats.ratio(s["throughput"], serial), 3)
            s["ratio_to_pipe_batch"] = round(stats.ratio(s["throughput"], batch), 3)


def headlines(scenarios: list[dict[str, Any]]) -> list[str]:
    """One line per worker scenario: CPU ms per order against the goal and the batched pipe."""
    pipe = _pipe_value(scenarios, "cpu_ms_per_order").get(("pipe-batch", 1), math.nan)
    return [
        stats.goal_line(s["name"], s.get("cpu_ms_per_order", math.nan), pipe, GOAL_MS, STRETCH_MS)
        for s in scenarios
        if s["kind"].startswith("worker")
    ]


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:g}"
    if isinstance(value, list):
        return "/".join(_fmt(v) for v in value)
    return str(value)


def _get(s: dict[str, Any], section: str, key: str) -> Any:
    """A per-order counter of a scenario: "" where it does not apply (pipes have no database),
    None (n/a) where it was not measurable."""
    if section == "database" and not s["kind"].startswith("worker"):
        return ""
    part = s.get(section)
    return None if part is None else part.get(key)


COLUMNS: list[tuple[str, Any]] = [
    ("scenario", lambda s: s["name"] + (" (!)" if s.get("broker_errors") else "")),
    ("orders", lambda s: s["orders"]),
    ("CPU ms/order", lambda s: s.get("cpu_ms_per_order", s["cpu_seconds_per_1000"])),
    ("orders/s", lambda s: s["throughput"]),
    ("vs ceiling", lambda s: s.get("ratio_to_pipe_batch", "")),
    ("vs x1", lambda s: s.get("throughput_vs_x1", "")),
    ("p50 ms", lambda s: s["paced"]["latency_ms"]["p50"]),
    ("p95 ms", lambda s: s["paced"]["latency_ms"]["p95"]),
    ("p99 ms", lambda s: s["paced"]["latency_ms"]["p99"]),
    ("backlog p99", lambda s: s["backlog_latency_ms"]["p99"]),
    ("stmts/order", lambda s: _get(s, "database", "statements_per_order")),
    ("xacts/order", lambda s: _get(s, "database", "transactions_per_order")),
    ("writes/order", lambda s: _get(s, "syscalls", "writes_per_order")),
    ("loops/order", lambda s: _get(s, "syscalls", "loop_iterations_per_order")),
    ("RSS MB", lambda s: s["rss_max_mb"]),
    ("req/order", lambda s: s.get("provider_requests_per_order", "")),
]


def rows(scenarios: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each scenario's table cells by column header."""
    return [{h: _fmt(get(s)) for h, get in COLUMNS} for s in scenarios]


def table(scenarios: list[dict[str, Any]]) -> str:
    headers = [h for h, _ in COLUMNS]
    cells = [headers, *[list(r.values()) for r in rows(scenarios)]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(s.get("broker_errors") for s in scenarios):
        lines.append(
            "(!) the broker was unreachable during this scenario: its numbers are not valid"
        )
    return "\n".join(lines)


def write_json(path: Path, results: dict[str, Any]) -> None:
    """NaN is not JSON: it becomes null."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    path.write_text(json.dumps(clean(results), indent=2) + "\n")


def plot(path: Path, scenarios: list[dict[str, Any]], long: dict[str, Any] | None) -> None:
    """Throughput and paced p99 per scenario (and RSS over orders for a long run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if long else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 5))
    names = [s["name"] for s in scenarios]
    colors = ["tab:gray" if s["kind"] != "worker" else "tab:blue" for s in scenarios]
    axes[0].barh(names, [s["throughput"] for s in scenarios], color=colors)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("orders/s (log scale)")
    axes[0].set_title("Throughput (backlog drain)")
    axes[0].invert_yaxis()
    p99 = [s["paced"]["latency_ms"]["p99"] for s in scenarios]
    axes[1].barh(names, p99, color=colors)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("ms (log scale)")
    axes[1].set_title("p99 latency, paced at a fraction of throughput")
    axes[1].invert_yaxis()
    if long:
        xs = [s["orders"] for s in long["samples"]]
        axes[2].plot(xs, [s["rss_mb"] for s in long["samples"]], marker=".")
        axes[2].set_xlabel("orders processed")
        axes[2].set_ylabel("worker RSS (MB)")
        axes[2].set_title("Long run: memory")
        axes[2].set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _package(file: str, name: str) -> str:
    """Which library a profiled function belongs to: site-packages/<pkg>, a top-level folder
    of this repository, `stdlib:<module>`, or the C built-in itself."""
    if file == "~":
        if "poll" in name:
            return "idle (waiting in epoll)"
        method = re.fullmatch(r"<method '(\w+)' of '([\w.]+)' objects>", name)
        builtin = re.fullmatch(r"<built-in method ([\w.]+)>", name)
        if method:
            return f"builtin {method[2].lstrip('_')}.{method[1]}"
        return f"builtin {builtin[1] if builtin else name}"
    path = Path(file)
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1].split(".")[0]
    if REPO in path.parents:
        return path.relative_to(REPO).parts[0]
    top = path.parent.name
    return "stdlib:" + (path.stem if not top or top.startswith("python3") else top)


def write_top(path: Path, out: Path, top: int = 20) -> None:
    """The top `top` functions by own time and by cumulative time, as text."""
    with out.open("w") as f:
        f.write(
            f"Top {top} functions by own time (tottime), then by cumulative time.\n"
            "cProfile counts every resumption of a coroutine as a call, so the cumulative\n"
            "times of coroutines overlap; own time is the reliable measure.\n"
        )
        for key in ("tottime", "cumulative"):
            f.write(f"\n===== by {key} =====\n")
            pstats.Stats(str(path), stream=f).sort_stats(key).print_stats(top)


def _shown(path: Path) -> str:
    """`path` relative to the repository when inside it: result files name no machine."""
    return str(path.relative_to(REPO)) if REPO in path.parents else str(path)


def profile_summary(path: Path, workdir: Path, top: int = 25) -> dict[str, Any]:
    """Where the worker's time went: own time per library, and the top functions by own time
    (own time is what cProfile measures reliably for coroutines; cumulative times count every
    resumption of a coroutine as a call). Writes `profile-top20.txt` (top 20 by own and by
    cumulative time) and `profile.txt` (a longer listing) into `workdir`."""
    write_top(path, workdir / "profile-top20.txt")
    with (workdir / "profile.txt").open("w") as out:
        st = pstats.Stats(str(path), stream=out)
        st.sort_stats("tottime").print_stats(top)
        st.sort_stats("cumulative").print_stats(60)
    raw = pstats.Stats(str(path))
    entries = raw.stats.items()  # type: ignore[attr-defined]
    total = sum(v[2] for _, v in entries)
    by_package: dict[str, float] = {}
    for (file, _line, name), (_cc, _nc, tt, _ct, _callers) in entries:
        key = _package(file, name)
        by_package[key] = by_package.get(key, 0.0) + tt
    ranked = sorted(entries, key=lambda kv: kv[1][2], reverse=True)
    functions = [
        {
            "function": _package(file, name)
            if file == "~"
            else f"{_package(file, name)} {Path(file).name}:{line}({name})",
            "own_seconds": round(tt, 3),
            "calls": nc,
        }
        for (file, line, name), (_cc, nc, tt, _ct, _callers) in ranked[:top]
    ]
    return {
        "total_seconds": round(total, 2),
        "listing": _shown(workdir / "profile-top20.txt"),
        "top10_lines": [
            f"{f['own_seconds']:8.3f} s {f['own_seconds'] / total:6.1%} {f['calls']:>10} calls"
            f"  {f['function']}"
            for f in functions[:10]
        ]
        if total
        else [],
        "own_seconds_by_package": {
            k: round(v, 2) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])[:20]
        },
        "top_functions": functions,
    }
