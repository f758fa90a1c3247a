#!/usr/bin/env python3
"""Soak benchmark: mixed OIP and vision traffic at a saturating concurrency, for minutes.

Reports throughput, p99 and errors per segment, and the server's RSS at the start
and the end (target: 0 errors, RSS growth within 5%). `--minutes 10` is the
issue's run; `--minutes 0.5` is the short variant CI runs (tests/http/test_soak.py).
Traffic goes to 127.0.0.1 only and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
import servers  # noqa: E402
import workloads  # noqa: E402

REPO = HERE.parent
MODEL = REPO / "tests" / "fixtures" / "models" / "bench_classifier.tflite"
LABELS = REPO / "tests" / "fixtures" / "models" / "bench_labels.txt"
# Per path, the number of closed-loop clients: 8 in all saturate 2 cores.
MIX = {"binary OIP": 4, "vision": 3, "JSON OIP": 1}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def requests_for(work: workloads.Workload) -> dict[str, loadgen.HttpRequest]:
    return {
        "binary OIP": workloads.binary_oip(work),
        "vision": workloads.vision(work),
        "JSON OIP": workloads.json_oip(work),
    }


async def segment(port: int, requests: dict[str, loadgen.HttpRequest], seconds: float) -> dict[str, dict]:
    """One segment: every path's clients at once; results per path."""
    cells = await asyncio.gather(
        *(
            loadgen.closed_loop(servers.HOST, port, requests[path], clients, (0.0, seconds))
            for path, clients in MIX.items()
        )
    )
    return {path: cell.__dict__ for path, cell in zip(MIX, cells, strict=True)}


def soak(minutes: float, segments: int, log_dir: Path, warmup: float = 60.0) -> dict:
    """RSS is measured from the end of a warm-up of the same traffic.

    The allocator keeps growing its arenas for the first minute or so of full load (every
    interpreter, thread and buffer pool reaching its working size); growth after that is
    what a leak would show.
    """
    work = workloads.load("bench", MODEL, LABELS)
    spec = servers.ours(MODEL, LABELS, work.name, servers.free_port())
    requests = requests_for(work)
    report: dict = {"minutes": minutes, "warmup_s": warmup, "mix": MIX, "segments": []}
    with servers.running(spec, log_dir) as proc:
        loadgen.run(segment(spec.port, requests, warmup))
        report["rss_start_mb"] = round(rss_mb(proc.pid), 1)
        for _ in range(segments):
            cells = loadgen.run(segment(spec.port, requests, minutes * 60 / segments))
            report["segments"].append({"rss_mb": round(rss_mb(proc.pid), 1), "paths": cells})
        report["rss_end_mb"] = round(rss_mb(proc.pid), 1)
        report["healthy_after"] = servers._status(spec.port, "/v2/health/ready") == 200
    return summarise(report)


def summarise(report: dict) -> dict:
    cells = [c for s in report["segments"] for c in s["paths"].values()]
    seconds = sum(s["paths"]["binary OIP"]["duration_s"] for s in report["segments"])
    report["requests"] = sum(c["requests"] for c in cells)
    report["errors"] = sum(c["errors"] for c in cells)
    report["throughput_rps"] = round(report["requests"] / seconds, 1) if seconds else 0.0
    report["worst_p99_ms"] = max((c["p99_ms"] for c in cells if c["requests"]), default=float("nan"))
    report["rss_growth_pct"] = round(100 * (report["rss_end_mb"] / report["rss_start_mb"] - 1), 2)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of traffic before RSS_start")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "soak.json")
    args = parser.parse_args()
    report = soak(args.minutes, args.segments, args.out.parent / "logs", args.warmup)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    keys = (
        "minutes",
        "warmup_s",
        "requests",
        "errors",
        "throughput_rps",
        "worst_p99_ms",
        "rss_start_mb",
        "rss_end_mb",
        "rss_growth_pct",
        "healthy_after",
    )
    print(json.dumps({k: report[k] for k in keys}))
    return 0 if report["errors"] == 0 and report["healthy_after"] else 1


if __name__ == "__main__":
    sys.exit(main())
