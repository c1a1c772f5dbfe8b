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


def with_ratios(scenarios: list[dict[str, Any]]) -> None:
    """Each worker scenario at 0 ms as a fraction of the serial pipe with as many processes
    (what one-at-a-time could reach) and of the batched pipe (the machine's ceiling)."""
    pipes = {(s["kind"], s["processes"]): s["throughput"] for s in scenarios}
    batch = pipes.get(("pipe-batch", 1), math.nan)
    for s in scenarios:
        if s["kind"] == "worker" and s["latency_ms"] == 0:
            serial = pipes.get(("pipe-serial", s["processes"]), math.nan)
            s["ratio_to_pipe_serial"] = round(stats.ratio(s["throughput"], serial), 3)
            s["ratio_to_pipe_batch"] = round(stats.ratio(s["throughput"], batch), 3)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:g}"
    if isinstance(value, list):
        return "/".join(_fmt(v) for v in value)
    return str(value)


def table(scenarios: list[dict[str, Any]]) -> str:
    headers = [
        "scenario",
        "orders",
        "orders/s",
        "vs ceiling",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "backlog p99",
        "CPU s/1k",
        "RSS MB",
        "req/order",
    ]
    rows = [
        [
            s["name"] + (" (!)" if s.get("broker_errors") else ""),
            s["orders"],
            s["throughput"],
            s.get("ratio_to_pipe_batch", ""),
            s["paced"]["latency_ms"]["p50"],
            s["paced"]["latency_ms"]["p95"],
            s["paced"]["latency_ms"]["p99"],
            s["backlog_latency_ms"]["p99"],
            s["cpu_seconds_per_1000"],
            s["rss_max_mb"],
            s.get("provider_requests_per_order", ""),
        ]
        for s in scenarios
    ]
    cells = [headers, *[[_fmt(c) for c in row] for row in rows]]
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


def profile_summary(path: Path, text_out: Path, top: int = 25) -> dict[str, Any]:
    """Where the worker's time went: own time per library, and the top functions by own time
    (own time is what cProfile measures reliably for coroutines; cumulative times count every
    resumption of a coroutine as a call). The full listing goes to `text_out`."""
    with text_out.open("w") as out:
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
    return {
        "total_seconds": round(total, 2),
        "own_seconds_by_package": {
            k: round(v, 2) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])[:20]
        },
        "top_functions": [
            {
                "function": _package(file, name)
                if file == "~"
                else f"{_package(file, name)} {Path(file).name}:{line}({name})",
                "own_seconds": round(tt, 3),
                "calls": nc,
            }
            for (file, line, name), (_cc, nc, tt, _ct, _callers) in ranked[:top]
        ],
    }
