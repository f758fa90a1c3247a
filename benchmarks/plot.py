"""The PNG: throughput and p50 latency against concurrency, one row of charts per model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from report import OURS, PROXY, RAW, SINGLE_INVOKE, raw_limit

STYLES = {OURS: "-", PROXY: ":", "KServe": "--", "MLflow": "-."}
MARKERS = {"binary OIP": "o", "JSON OIP": "s", "MLflow /invocations": "^", "vision": "D"}


def write(models: Sequence[dict[str, Any]], concurrencies: Sequence[int], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(models), 2, figsize=(13, 4.8 * len(models)), squeeze=False)
    for (speed, latency), model in zip(axes, models, strict=True):
        _series(speed, latency, model["rows"], concurrencies)
        _references(speed, latency, model["rows"])
        speed.set_title(f"{model['name']}: throughput (higher is better)")
        latency.set_title(f"{model['name']}: p50 latency (lower is better)")
        speed.set_ylabel("requests/s")
        latency.set_ylabel("ms")
        latency.set_yscale("log")
        for ax in (speed, latency):
            ax.set_xscale("log", base=2)
            ax.set_xticks(list(concurrencies), [str(c) for c in concurrencies])
            ax.set_xlabel("concurrency (closed loop)")
            ax.grid(True, alpha=0.3)
        speed.legend(fontsize=7, loc="best")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _series(speed: Any, latency: Any, rows: Sequence[dict[str, Any]], concurrencies: Sequence[int]) -> None:
    pairs = sorted(
        {(r["server"], r["path"]) for r in rows if r["server"] != RAW}, key=lambda p: list(STYLES).index(p[0])
    )
    for server, path in pairs:
        cells = [
            r
            for c in concurrencies
            for r in rows
            if (r["server"], r["path"], r["concurrency"]) == (server, path, c)
        ]
        xs = [r["concurrency"] for r in cells]
        style = {"linestyle": STYLES[server], "marker": MARKERS.get(path, "x"), "label": f"{server} · {path}"}
        speed.plot(xs, [r["throughput"] for r in cells], **style)
        latency.plot(xs, [r["p50_ms"] for r in cells], **style)


def _references(speed: Any, latency: Any, rows: Sequence[dict[str, Any]]) -> None:
    limit = raw_limit(rows)
    speed.axhline(limit["throughput"], color="black", linewidth=1, label=f"raw limit ({limit['path']})")
    speed.axhline(
        0.8 * limit["throughput"], color="gray", linewidth=1, linestyle="--", label="80% of raw limit"
    )
    single = next((r for r in rows if r["server"] == RAW and r["path"] == SINGLE_INVOKE), None)
    if single is not None:
        latency.axhline(single["p50_ms"], color="black", linewidth=1, label="one raw invoke (p50)")
        latency.axhline(single["p50_ms"] + 1, color="gray", linewidth=1, linestyle="--", label="raw + 1 ms")
        latency.legend(fontsize=7, loc="best")
