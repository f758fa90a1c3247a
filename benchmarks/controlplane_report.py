"""The control-plane benchmark's plot and README table, from its JSON report."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(report: dict[str, Any]) -> str:
    """One row per N: the three targets first, then where the work goes."""
    head = (
        "| N | apply (s) | all Ready (s) | p50 / p90 Ready (s) | Deployment created p50 / max (s) "
        "| operator peak RSS (MB) | operator CPU (s) | operator API req / service "
        "| reconcile passes / service | idle writes / min (operator / all) | idle operator reads / min "
        "| idle operator CPU (s/min) "
        "| other processes' CPU (cores) |"
    )
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for run in report["runs"]:
        burst, idle, op = run["burst"], run["idle"], run["operator"]
        req, first = burst["requests"], burst["pipeline"]["deployment_created"]
        ready = (
            _cell(burst["all_ready_seconds"])
            if burst["all_ready"]
            else (f"not all: {burst['ready_count']}/{run['n']}")
        )
        rows.append(
            f"| {run['n']} | {_cell(burst['apply_seconds'])} | {ready} "
            f"| {_cell(burst['ready_p50_seconds'])} / {_cell(burst['ready_p90_seconds'])} "
            f"| {_cell(first['p50'], 0)} / {_cell(first['max'], 0)} "
            f"| {_cell(op['peak_rss_mb'], 0)} | {_cell(op['cpu_seconds_burst'])} "
            f"| {_cell(req.get('operator_own_per_service', req['operator_per_service']))} "
            f"| {_cell(req['reconcile_passes_per_service'])} "
            f"| {_cell(idle['writes_per_min_operator'], 0)} / {_cell(idle['writes_per_min_all'], 0)} "
            f"| {_cell(idle.get('reads_per_min_operator'), 0)} "
            f"| {_cell(op['cpu_seconds_idle_per_min'])} | {_cell(burst['others_cores'])} |"
        )
    return "\n".join(rows)


def plot(report: dict[str, Any], path: Path) -> None:
    """Four panels: Ready over time, operator RSS over time, requests per service, idle writes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    _ready_panel(axes[0][0], runs, report["targets"]["all_ready_seconds_at_1000"])
    _rss_panel(axes[0][1], runs, report["targets"]["peak_rss_mb"])
    _requests_panel(axes[1][0], runs)
    _idle_panel(axes[1][1], runs)
    fig.suptitle(
        f"mlmodel-operator control plane scale (kwok nodes, {report['machine']['cores']} cores shared)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ready_panel(ax: Any, runs: list[dict[str, Any]], target: float) -> None:
    for run in runs:
        times = run["burst"]["ready_times"]
        ax.step([0, *times], range(len(times) + 1), where="post", label=f"N={run['n']}")
    ax.axvline(target, color="red", linestyle="--", linewidth=1, label=f"target {target} s")
    ax.set(title="MLModelServices Ready since the apply began", xlabel="seconds", ylabel="Ready")
    ax.legend()


def _rss_panel(ax: Any, runs: list[dict[str, Any]], target: float) -> None:
    for run in runs:
        samples = run["operator"]["rss_timeline"]
        ax.plot([s[0] for s in samples], [s[1] for s in samples], label=f"N={run['n']}")
    ax.axhline(target, color="red", linestyle="--", linewidth=1, label=f"target {target} MB")
    ax.set(title="operator RSS (burst, then idle)", xlabel="seconds", ylabel="MiB", ylim=(0, None))
    ax.legend()


def _requests_panel(ax: Any, runs: list[dict[str, Any]]) -> None:
    verbs = sorted({v for r in runs for v in r["burst"]["requests"]["operator_per_service_by_verb"]})
    labels = [f"N={r['n']}" for r in runs]
    bottom = [0.0] * len(runs)
    for verb in verbs:
        values = [r["burst"]["requests"]["operator_per_service_by_verb"].get(verb, 0.0) for r in runs]
        ax.bar(labels, values, bottom=bottom, label=verb)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set(
        title="operator API requests per service (until all Ready or timeout)", ylabel="requests / service"
    )
    ax.legend(fontsize="small")


def _idle_panel(ax: Any, runs: list[dict[str, Any]]) -> None:
    labels = [f"N={r['n']}" for r in runs]
    mine = [r["idle"]["writes_per_min_operator"] for r in runs]
    rest = [r["idle"]["writes_per_min_all"] - r["idle"]["writes_per_min_operator"] for r in runs]
    ax.bar(labels, mine, label="operator (APPLY, PATCH, kopf events)")
    bars = ax.bar(labels, [max(0.0, x) for x in rest], bottom=mine, label="other clients")
    ax.bar_label(bars, labels=[f"{m:.0f} / {m + r:.0f}" for m, r in zip(mine, rest, strict=True)])
    ax.set(
        title="writes per minute while idle (target 0)",
        ylabel="writes / min",
        ylim=(0, max(1.0, *(m + r for m, r in zip(mine, rest, strict=True))) * 1.15),
    )
    ax.legend(fontsize="small")
