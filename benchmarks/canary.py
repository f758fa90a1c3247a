"""What a canary costs: throughput and p50 of a split and of a mirrored split, against the
same model served alone, as ratios.

    python3 benchmarks/canary.py                       # ~1 minute
    python3 benchmarks/canary.py --duration 10 --concurrency 1,4

Every server serves bench_classifier.tflite (~4.4 ms per invoke) with its defaults; the
candidate is the same file under version 2, so a mirrored request runs the model twice.
The client is loadgen.py's closed loop with binary OIP requests (workloads.binary_oip), on
the same cores as the server, as in dataplane.py.
"""

from __future__ import annotations

import argparse
import tempfile
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from loadgen import CellResult, measure
from servers import HOST, free_port, ours, running
from workloads import binary_oip, load

MODEL = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "models" / "bench_classifier.tflite"
SETUPS = {
    "plain": (),
    "split 10%": ("--candidate-model", str(MODEL), "--candidate-version", "2", "--candidate-percent", "10"),
    "split 10% + mirror": (
        "--candidate-model", str(MODEL), "--candidate-version", "2", "--candidate-percent", "10", "--mirror",
    ),
}  # fmt: skip


def cell(
    setup: tuple[str, ...], concurrency: int, timing: tuple[float, float], logs: Path
) -> tuple[CellResult, float]:
    """The cell's figures, and the share of its requests that were mirrored (not shed)."""
    workload = load("bench", MODEL, None)
    spec = ours(MODEL, None, workload.name, free_port(), ("--model-version", "1", *setup))
    with running(spec, logs):
        result = measure(HOST, spec.port, binary_oip(workload), concurrency, timing)
        return result, mirrored(spec.port)


def mirrored(port: int) -> float:
    """Mirrored runs over all mirrored and shed ones, from the server's /metrics (0: none)."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    counts = {"shadow": 0.0, "skipped": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mlmodel_version_requests_total" and sample.labels["role"] == "shadow":
                counts["shadow"] += sample.value
            elif sample.name == "mlmodel_version_shadows_skipped_total":
                counts["skipped"] += sample.value
    total = counts["shadow"] + counts["skipped"]
    return counts["shadow"] / total if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", default="1,4")
    args = parser.parse_args()
    timing = (args.warmup, args.duration)
    print("| setup | c | req/s | p50 ms | throughput vs plain | p50 vs plain | mirrored |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as logs:
        for c in (int(x) for x in args.concurrency.split(",")):
            results = {name: cell(setup, c, timing, Path(logs)) for name, setup in SETUPS.items()}
            plain = results["plain"][0]
            for name, (r, share) in results.items():
                ratios = f"{r.throughput / plain.throughput:.2f} | {r.p50_ms / plain.p50_ms:.2f}"
                print(f"| {name} | {c} | {r.throughput:.0f} | {r.p50_ms:.2f} | {ratios} | {share:.0%} |")


if __name__ == "__main__":
    main()
