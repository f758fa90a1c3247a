"""Turn the measured cells into tables, target verdicts, a plot and the README's figures."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workloads import BINARY_OIP, GRPC_OIP, INVOCATIONS, JSON_OIP, PATHS, VISION

OURS, KSERVE, MLFLOW, RAW, PROXY = "mlmodel", "KServe", "MLflow", "raw LiteRT", "remote vision proxy"
SINGLE_INVOKE = "1 interpreter(s) x 1 thread(s)"
TARGET_MIN_INVOKE_MS = 2.0  # the targets are stated for models of at least this invoke time
TINY_MAX_INVOKE_MS = 0.3  # below it the server's own cost dominates: targets of their own
NOISY = " †"  # other processes kept the cores busy during this cell
README_START, README_END = "<!-- dataplane:start -->", "<!-- dataplane:end -->"

Row = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    goal: str
    met: bool | None  # None: not applicable to this model

    @property
    def mark(self) -> str:
        return {True: "met", False: "**missed**", None: "n/a"}[self.met]


def _cell(rows: Iterable[Row], server: str, path: str, concurrency: int | None = None) -> Row | None:
    for row in rows:
        if row["server"] == server and row["path"] == path and concurrency in (None, row["concurrency"]):
            return row
    return None


def raw_limit(rows: Sequence[Row]) -> Row:
    """The best raw configuration: the physical limit of this machine for this model."""
    return max((r for r in rows if r["server"] == RAW), key=lambda r: r["throughput"])


def verdicts(rows: Sequence[Row], concurrencies: Sequence[int]) -> list[Verdict]:
    """The issue's targets, each as measured against its reference on this machine."""
    single = _cell(rows, RAW, SINGLE_INVOKE)
    if single is None:
        return []
    if single["p50_ms"] < TINY_MAX_INVOKE_MS:
        return _tiny_verdicts(rows, concurrencies)
    applies = single["p50_ms"] >= TARGET_MIN_INVOKE_MS
    found = _limit_verdicts(rows, concurrencies, applies)
    found += _grpc_verdicts(rows, concurrencies, applies)
    found += _latency_verdicts(rows, single, applies)
    found += _json_verdicts(rows, applies)
    found += _peer_verdicts(rows, concurrencies, applies)
    return found


def _tiny_verdicts(rows: Sequence[Row], concurrencies: Sequence[int]) -> list[Verdict]:
    """A model where overhead dominates: binary OIP >= 60% of raw and >= 10x KServe's."""
    found = _limit_verdicts(rows, concurrencies, True, goal=0.6)
    return found + _peer_verdicts(rows, concurrencies, True, ((KSERVE, BINARY_OIP),), goal=10.0)


def _limit_verdicts(
    rows: Sequence[Row], concurrencies: Sequence[int], applies: bool, goal: float = 0.9
) -> list[Verdict]:
    limit = raw_limit(rows)
    out = []
    for c in (c for c in concurrencies if c >= 4):
        cell = _cell(rows, OURS, BINARY_OIP, c)
        if cell is None:
            continue
        ratio = cell["throughput"] / limit["throughput"]
        measured = f"{cell['throughput']:.0f} / {limit['throughput']:.0f} req/s = {ratio:.0%}"
        what = f"binary OIP throughput, c={c}, vs raw limit"
        out.append(Verdict(what, measured, f">= {goal:.0%}", _met(applies, ratio >= goal)))
    return out


def _grpc_verdicts(rows: Sequence[Row], concurrencies: Sequence[int], applies: bool) -> list[Verdict]:
    """gRPC must cost no throughput against binary REST once requests overlap."""
    found = (_path_ratio(rows, GRPC_OIP, BINARY_OIP, c, 1.0, applies) for c in concurrencies if c >= 4)
    return [v for v in found if v is not None]


def _path_ratio(
    rows: Sequence[Row], path: str, reference: str, c: int, goal: float, applies: bool
) -> Verdict | None:
    """Our throughput on `path` against ours on `reference` at concurrency `c`."""
    cell, ref = _cell(rows, OURS, path, c), _cell(rows, OURS, reference, c)
    if cell is None or ref is None or not ref["throughput"]:
        return None
    ratio = cell["throughput"] / ref["throughput"]
    measured = f"{cell['throughput']:.0f} / {ref['throughput']:.0f} req/s = {ratio:.0%}"
    what = f"{path} throughput, c={c}, vs {reference}"
    return Verdict(what, measured, f">= {goal:.0%}", _met(applies, ratio >= goal))


def fastest_invoke(rows: Sequence[Row], single: Row) -> Row:
    """The raw configuration with the lowest p50 for one request at a time.

    The server runs a lone request on a multi-threaded interpreter (`--solo-threads`), so
    its latency is compared with the fastest raw invoke, not the single-threaded one.
    """
    lone = [r for r in rows if r["server"] == RAW and r["concurrency"] == 1]
    return min(lone, key=lambda r: r["p50_ms"], default=single)


def _latency_verdicts(rows: Sequence[Row], single: Row, applies: bool) -> list[Verdict]:
    cell = _cell(rows, OURS, BINARY_OIP, 1)
    if cell is None:
        return []
    raw = fastest_invoke(rows, single)
    extra = cell["p50_ms"] - raw["p50_ms"]
    measured = f"{cell['p50_ms']:.2f} - {raw['p50_ms']:.2f} ms ({raw['path']}) = {extra:+.2f} ms"
    what = "binary OIP p50, c=1, minus the fastest raw invoke"
    found = [Verdict(what, measured, "<= 0.3 ms", _met(applies, extra <= 0.3))]
    vision = _cell(rows, OURS, VISION, 1)
    if vision is not None:
        extra = vision["p50_ms"] - cell["p50_ms"]
        measured = f"{vision['p50_ms']:.2f} - {cell['p50_ms']:.2f} ms = {extra:+.2f} ms"
        found.append(
            Verdict("vision p50, c=1, minus binary OIP", measured, "<= 0.8 ms", _met(applies, extra <= 0.8))
        )
    return found


def _json_verdicts(rows: Sequence[Row], applies: bool, c: int = 4) -> list[Verdict]:
    """JSON OIP against binary OIP, and MLflow's /invocations against JSON OIP, at c = 4."""
    pairs = ((JSON_OIP, BINARY_OIP), (INVOCATIONS, JSON_OIP))
    found = (_path_ratio(rows, path, reference, c, 0.5, applies) for path, reference in pairs)
    return [v for v in found if v is not None]


PEER_PATHS = ((KSERVE, BINARY_OIP), (KSERVE, GRPC_OIP), (KSERVE, JSON_OIP), (MLFLOW, INVOCATIONS))


def _peer_verdicts(
    rows: Sequence[Row],
    concurrencies: Sequence[int],
    applies: bool,
    pairs: Sequence[tuple[str, str]] = PEER_PATHS,
    goal: float = 2.0,
) -> list[Verdict]:
    out = []
    for peer, path in pairs:
        ratios = [_peer_ratio(rows, peer, path, c) for c in concurrencies]
        known = [r for r in ratios if r is not None]
        if not known:
            continue
        measured = ", ".join(f"c={c}: {r:.2f}x" for c, r in zip(concurrencies, ratios, strict=True) if r)
        met = _met(applies, min(known) >= goal)
        out.append(Verdict(f"throughput vs {peer}, {path}", measured, f">= {goal:g}x", met))
    return out


def _peer_ratio(rows: Sequence[Row], peer: str, path: str, concurrency: int) -> float | None:
    ours, theirs = _cell(rows, OURS, path, concurrency), _cell(rows, peer, path, concurrency)
    if ours is None or theirs is None or not theirs["throughput"]:
        return None
    return ours["throughput"] / theirs["throughput"]


def _met(applies: bool, ok: bool) -> bool | None:
    return ok if applies else None


def vision_costs(rows: Sequence[Row], concurrencies: Sequence[int]) -> list[Verdict]:
    """What the vision path adds over binary OIP, and what a separate vision service would add."""
    out = []
    for c in concurrencies:
        binary, inproc, remote = (
            _cell(rows, s, p, c) for s, p in ((OURS, BINARY_OIP), (OURS, VISION), (PROXY, VISION))
        )
        if binary and inproc:
            out.append(_delta(f"in-process vision vs binary OIP, c={c}", inproc, binary))
        if inproc and remote:
            out.append(_delta(f"remote vision (proxy hop) vs in-process vision, c={c}", remote, inproc))
    return out


def _delta(what: str, slow: Row, fast: Row) -> Verdict:
    p50 = slow["p50_ms"] - fast["p50_ms"]
    rate = slow["throughput"] / fast["throughput"] - 1 if fast["throughput"] else math.nan
    measured = f"p50 {p50:+.2f} ms ({slow['p50_ms']:.2f} vs {fast['p50_ms']:.2f}), throughput {rate:+.0%}"
    return Verdict(what, measured, "", None)


def merge_runs(docs: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], list[Row]]:
    """(meta, models) of several runs: per cell, the row measured with the least other load."""
    meta = {**docs[0]["meta"], "runs": len(docs), "date": ", ".join(d["meta"]["date"] for d in docs)}
    models = []
    for model in docs[0]["models"]:
        rows = [r for d in docs for m in d["models"] if m["name"] == model["name"] for r in m["rows"]]
        best: dict[tuple[str, str, int], Row] = {}
        for row in rows:
            key = (row["server"], row["path"], row["concurrency"])
            if key not in best or _other(row) < _other(best[key]):
                best[key] = row
        merged = list(best.values())
        single = _cell(merged, RAW, SINGLE_INVOKE)
        invoke_ms = single["p50_ms"] if single else model["invoke_ms"]
        models.append({**model, "rows": merged, "invoke_ms": invoke_ms})
    return meta, models


def _other(row: Row) -> float:
    return float(row.get("window", {}).get("other_cores", 0.0))


# -- tables --------------------------------------------------------------------


def results_table(rows: Sequence[Row], concurrencies: Sequence[int]) -> str:
    """Markdown: one line per (server, path), req/s and p50/p99 ms per concurrency."""
    head = ["server", "path"] + [f"c={c} req/s · p50 · p99 ms" for c in concurrencies]
    lines = [_md(head), _md(["---"] * len(head))]
    lines += [_md(_raw_line(row)) for row in rows if row["server"] == RAW]
    for server in (OURS, PROXY, KSERVE, MLFLOW):
        for path in PATHS:
            cells = [_cell(rows, server, path, c) for c in concurrencies]
            if any(cells):
                lines.append(_md([server, path, *(_fmt(c) for c in cells)]))
        if server in (KSERVE, MLFLOW) and any(r["server"] == server for r in rows):
            lines.append(_md([server, VISION, *(["n/a (no equivalent)"] * len(concurrencies))]))
    return "\n".join(lines)


def _raw_line(row: Row) -> list[str]:
    return [RAW, row["path"], f"{_fmt(row)} (c = interpreters)"]


def _fmt(cell: Row | None) -> str:
    if cell is None:
        return ""
    text = f"{cell['throughput']:.1f} · {cell['p50_ms']:.2f} · {cell['p99_ms']:.2f}"
    text += NOISY if cell.get("noisy") else ""
    return text + (f" ({cell['errors']} errors)" if cell.get("errors") else "")


def verdict_table(found: Sequence[Verdict]) -> str:
    lines = [_md(["target", "measured", "goal", "verdict"]), _md(["---"] * 4)]
    lines += [_md([v.target, v.measured, v.goal, v.mark]) for v in found]
    return "\n".join(lines)


def cost_table(found: Sequence[Verdict]) -> str:
    lines = [_md(["comparison", "extra latency and throughput change"]), _md(["---"] * 2)]
    lines += [_md([v.target, v.measured]) for v in found]
    return "\n".join(lines)


def _md(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def breakdown_table(rows: Sequence[Row]) -> str:
    """Our server's requests split by its own metrics (means over each cell's window)."""
    head = ["mlmodel path", "c", "latency", "in the app", "of which invoke", "outside the app"]
    head += ["server CPU/req", "client CPU/req"]
    lines = [_md(head), _md(["---"] * len(head))]
    for row in (r for r in rows if r["server"] == OURS and "app_ms" in r.get("window", {})):
        w, rate = row["window"], row["throughput"] or math.nan
        cells = [row["mean_ms"], w["app_ms"], w.get("invoke_ms", math.nan), row["mean_ms"] - w["app_ms"]]
        cpu = [w.get("server_cores", math.nan) * 1e3 / rate, w.get("client_cores", math.nan) * 1e3 / rate]
        lines.append(_md([row["path"], str(row["concurrency"]), *(f"{x:.2f}" for x in cells + cpu)]))
    return "\n".join(lines)


def model_section(model: Row, concurrencies: Sequence[int]) -> str:
    rows = model["rows"]
    parts = [
        f"### {model['name']} ({model['invoke_ms']:.2f} ms per single-threaded invoke)",
        results_table(rows, concurrencies),
        verdict_table(verdicts(rows, concurrencies)),
    ]
    costs = vision_costs(rows, concurrencies)
    if costs:
        parts.append(cost_table(costs))
    parts.append("Where our requests' time goes (ms, means over the window; CPU in ms per request):")
    parts.append(breakdown_table(rows))
    return "\n\n".join(parts)


def update_readme(readme: Path, body: str) -> None:
    """Replace the figures between the README's markers (append them when absent)."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    block = f"{README_START}\n{body}\n{README_END}"
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    readme.write_text(text, encoding="utf-8")
