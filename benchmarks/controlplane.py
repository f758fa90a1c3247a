"""Control plane scale: N MLModelServices applied at once, until all are Ready, then idle.

    python3 benchmarks/controlplane.py [--sizes 100,500,1000] [--idle-seconds 90]

For each N, on a fresh local control plane (hack/localcluster.py: etcd, kube-apiserver,
controller-manager, scheduler and kwok nodes whose pods turn Ready without containers):

1. the CRDs, a namespace enforcing PSS `restricted`, one ModelPackage whose only version is a
   ConfigMap holding tests/fixtures/models/classifier_uint8.tflite with its real sha256;
2. the operator as tests/cluster/operator_fixtures.py starts it (`python -m mlmodel_operator
   --standalone`, admin kubeconfig) but with the production resync interval (60 s);
3. N MLModelServices (replicas 1) server-side applied from a thread pool, then a watch waits
   until every one has condition Ready=True;
4. after a short settle, an idle window in which nothing changes.

Measured: apply time, time until all Ready (and per-service ready times), operator peak RSS
(VmHWM) and CPU seconds, apiserver_request_total before/after (all clients, and the rows only
the operator makes, per service by verb and resource), Kubernetes Events by reporter, the
writes per minute on the mlmodel kinds and their children during the idle window, and the
operator's own reads per minute there. Targets: 1000 Ready in < 120 s, RSS < 250 MB, at most
5 operator requests per service, no write while idle. Results:
benchmarks/results/controlplane.json and .png.
`--operator-env KEY=VALUE` passes settings the operator reads (e.g. the resync interval) to
try a change; `--tag` then keeps those results apart (controlplane-<tag>.json).

`--peer kserve` measures KServe's controller instead, the same way on the same kind of cluster:
its manager built from its Go module (hack/build-kserve.sh), N InferenceServices in
RawDeployment mode (benchmarks/peers/kserve_controller.py); results go to
controlplane-peer-kserve.json with the same fields (`operator` there means the peer).

The pieces, next to this file: controlplane_subjects.py (what is measured: our operator or a
peer), controlplane_cluster.py (a fresh cluster per N, CPU bookkeeping), controlplane_measure.py
(the burst and the idle window), controlplane_probes.py (/proc and the apiserver's metrics) and
controlplane_report.py (the plot and the table); this module is the command line and the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import controlplane_probes as probes
from controlplane_cluster import bench_cluster, log, wait_for_quiet
from controlplane_measure import (
    events_by_reporter,
    measure_burst,
    measure_idle,
    operator_event_reasons,
    operator_summary,
)
from controlplane_report import markdown_table, plot
from controlplane_subjects import OURS, Options, Subject, kserve_subject

RESULTS = Path(__file__).resolve().parent / "results"
KIB_PER_GIB = 1024 * 1024
TARGETS = {
    "all_ready_seconds_at_1000": 120,
    "peak_rss_mb": 250,
    "idle_writes_per_min": 0,
    "operator_requests_per_service": 5,
}


def run_size(n: int, opts: Options, subject: Subject) -> dict[str, Any]:
    quiet = wait_for_quiet(opts)
    log(f"N={n}: starting a cluster for {subject.name} (other processes use {quiet['others_cores']} cores)")
    with bench_cluster(n, opts, subject) as bench:
        rss_start = probes.memory_mb(bench.operator.pid)[0]
        burst = measure_burst(bench, n, opts)
        log(f"N={n}: {burst['ready_count']} Ready after {burst['all_ready_seconds']} s")
        idle = measure_idle(bench, opts)
        bench.sampler.stop()
        return {
            "n": n,
            **bench.extra,
            "quiet_before": quiet,
            "burst": burst,
            "idle": idle,
            "operator": operator_summary(bench, burst, idle, opts, rss_start),
            "events_by_reporter": dict(events_by_reporter(bench.kube).most_common()),
            "operator_event_reasons": operator_event_reasons(bench.kube, subject.event_reporter),
        }


# --- entry point -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,500,1000", help="comma-separated N (default %(default)s)")
    parser.add_argument("--idle-seconds", type=float, default=90.0)
    parser.add_argument("--settle-seconds", type=float, default=10.0)
    parser.add_argument("--ready-timeout", type=float, default=240.0)
    parser.add_argument("--apply-workers", type=int, default=16)
    parser.add_argument("--operator-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tag", default="", help="results go to controlplane-<tag>.json/.png")
    parser.add_argument("--keep", action="store_true", help="keep the work dirs (logs, etcd)")
    parser.add_argument(
        "--quiet-cores",
        type=float,
        default=0.5,
        help="before each N, wait until other processes use fewer cores than this",
    )
    parser.add_argument("--quiet-wait", type=float, default=45.0, help="at most this long (s)")
    parser.add_argument("--replot", action="store_true", help="only redraw the PNG and table from the JSON")
    parser.add_argument(
        "--peer",
        choices=["kserve"],
        default="",
        help="measure a peer controller instead of ours (results: controlplane-peer-<peer>[-<tag>].json)",
    )
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.operator_env)
    return Options(
        tuple(int(s) for s in args.sizes.split(",")),
        args.idle_seconds,
        args.settle_seconds,
        args.ready_timeout,
        args.apply_workers,
        env,
        args.tag,
        args.keep,
        args.quiet_cores,
        args.quiet_wait,
        args.replot,
        args.peer,
    )


def machine() -> dict[str, Any]:
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {
        "cores": os.cpu_count(),
        "mem_gib": round(int(mem) / KIB_PER_GIB, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def replot(stem: str) -> int:
    """Redraw the PNG and print the table from a saved report (--replot)."""
    report = json.loads((RESULTS / f"{stem}.json").read_text())
    plot(report, RESULTS / f"{stem}.png")
    print(markdown_table(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    stem = "controlplane" + (f"-peer-{opts.peer}" if opts.peer else "") + (f"-{opts.tag}" if opts.tag else "")
    if opts.replot:
        return replot(stem)
    subject = kserve_subject() if opts.peer == "kserve" else OURS
    report: dict[str, Any] = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "targets": TARGETS,
        "subject": subject.name,
        "operator_env": opts.operator_env,
        "note": "CPU is shared with whatever else runs on the machine; see cpu_seconds.other_processes",
        "runs": [],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    for n in opts.sizes:
        report["runs"].append(run_size(n, opts, subject))
        (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(report, RESULTS / f"{stem}.png")
    print(markdown_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
