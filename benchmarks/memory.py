"""Memory benchmark: the server's RSS idle and under load, beside KServe, in one run.

    python3 benchmarks/memory.py [--duration 10] [--no-peers] [--mediapipe]

For each fixture model it starts `mlmodel serve` (default settings) and KServe's
ModelServer (the same peer as benchmarks/dataplane.py), reads each process's resident
memory once it is ready and idle, then drives binary OIP at c = 4 for `--duration`
seconds and reads the peak (the kernel's VmHWM, which catches a spike between samples)
and the RSS after the load. Children are counted too (KServe may fork workers). Writes
results/memory.json and prints a Markdown table; the figures go to README.md by hand.

Why RSS and VmHWM, not a heap profiler: what an edge node's memory limit sees is the
process's resident pages, shared libraries included (LiteRT, NumPy's OpenBLAS), and a
profiler inside the process would change what it measures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import loadgen
import servers
import venvs
import workloads as wl

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures" / "models"
MODELS = ("bench_classifier", "classifier_float32", "classifier_uint8", "detector_ssd", "iris_classifier")
CONCURRENCY = 4
IDLE_SETTLE_S = 2.0


def status_kb(pid: int, field: str) -> int:
    """A `VmRSS`/`VmHWM` line of /proc/<pid>/status, in kB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def family(pid: int) -> list[int]:
    """The process and its descendants (a server's workers count towards its memory)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            queue.extend(int(c) for c in children)
    return found


def megabytes(pid: int, field: str) -> float:
    return round(sum(status_kb(p, field) for p in family(pid)) / 1024, 1)


def measure(spec: servers.ServerSpec, work: wl.Workload, duration: float, log_dir: Path) -> dict[str, Any]:
    """Idle RSS, peak RSS and RSS after `duration` seconds of binary OIP at c = 4."""
    with servers.running(spec, log_dir) as proc:
        time.sleep(IDLE_SETTLE_S)
        idle = megabytes(proc.pid, "VmRSS")
        request = wl.binary_oip(work)
        result = loadgen.measure(servers.HOST, spec.port, request, CONCURRENCY, (1.0, duration))
        return {
            "idle_mb": idle,
            "peak_mb": megabytes(proc.pid, "VmHWM"),
            "after_load_mb": megabytes(proc.pid, "VmRSS"),
            "requests": result.requests,
            "errors": result.errors,
        }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    kserve = None if args.no_peers else venvs.ensure("kserve", HERE / "requirements-kserve.txt")
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.models:
        path = FIXTURES / f"{name}.tflite"
        workload = wl.load(name, path, None)
        specs = [servers.ours(path, None, workload.name, servers.free_port())]
        if kserve is not None:
            specs.append(servers.kserve(kserve, path, workload.name, servers.free_port()))
        for spec in specs:
            row = {"model": name, "server": spec.label, **measure(spec, workload, args.duration, log_dir)}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | server | idle RSS (MB) | peak RSS under load (MB) | RSS after load (MB) | errors |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in rows:
        cells = (r["model"], r["server"], r["idle_mb"], r["peak_mb"], r["after_load_mb"], r["errors"])
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per server")
    parser.add_argument("--no-peers", action="store_true", help="only our server")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="fixture model stems")
    parser.add_argument("--log-dir", default="/tmp/mlmodel-bench-memory", help="servers' logs")
    parser.add_argument("--out", default=str(HERE / "results" / "memory.json"))
    args = parser.parse_args()
    rows = run(args)
    Path(args.out).write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=1) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
