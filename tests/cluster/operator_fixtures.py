"""The operator under test: `python -m mlmodel_operator` as a subprocess against the
session's local control plane, with a clock the tests can move.

Import the fixtures into a test module (`from operator_fixtures import mlmodel_operator`)
or re-export them from conftest.py. A subprocess (rather than kopf in a thread) exercises
the real entry point, kopf's login, liveness endpoint and signal handling.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from localcluster import LocalCluster, free_ports, operator_env, stop_process, wait_until

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
RESYNC_SECONDS = 2


class PodMetrics:
    """What the inference pods' /metrics answer, for a canary's gates: kwok's pods run no
    server, so the operator reads them here (MLMODEL_OPERATOR_POD_METRICS_URL), one
    exposition text per namespace, set by the test."""

    def __init__(self) -> None:
        texts: dict[str, str] = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                text = texts.get(self.path.split("/")[1])
                self.send_response(200 if text is not None else 404)
                self.end_headers()
                self.wfile.write((text or "").encode())

            def log_message(self, *_: object) -> None:
                pass

        self.texts = texts
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url_template(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{{namespace}}/{{name}}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class OperatorProcess:
    """Handle on the running operator: its log, liveness URL and injectable clock."""

    proc: subprocess.Popen[bytes]
    log: Path
    clock_file: Path
    liveness_url: str
    metrics_url: str
    pod_metrics: PodMetrics | None = field(default=None, repr=False)

    def advance_clock(self, seconds: float) -> None:
        """Move the operator's clock forward (it re-reads the file on every call)."""
        self.clock_file.write_text(str(self.offset() + seconds))

    def offset(self) -> float:
        return float(self.clock_file.read_text() or 0)

    def reset_clock(self) -> None:
        self.clock_file.write_text("0")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text()[-3000:]
            raise AssertionError(f"operator exited with {self.proc.returncode}:\n{tail}")

    def healthy(self) -> bool:
        with urllib.request.urlopen(self.liveness_url, timeout=2) as resp:
            return bool(resp.status == 200)

    def metrics(self) -> str:
        """The operator's Prometheus exposition text."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:
            return str(resp.read().decode())


def install_crds(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    for crd in ("modelpackages", "mlmodelservices", "visionservices"):
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd}.mlmodel.dev")


@pytest.fixture(scope="session")
def mlmodel_crds(local_cluster: LocalCluster) -> LocalCluster:
    install_crds(local_cluster)
    return local_cluster


# Where stopped services with wakeOnRequest lead; tests/cluster/test_wake.py creates it.
ACTIVATOR_SERVICE = "mlmodel-activator/activator"
# The running session operator per cluster (see mlmodel_operator).
_SESSION_OPERATORS: dict[str, OperatorProcess] = {}


@pytest.fixture(scope="session")
def mlmodel_operator(
    mlmodel_crds: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator for the session, watching all namespaces, resyncing every 2 s.

    Exactly one: a test module that imports this fixture (instead of getting it from
    conftest.py) makes pytest create a second session-scoped instance, and two
    cluster-wide operators with different test clocks would both reconcile every
    object (auto-stop then flapped between their two notions of "now").
    """
    running = _SESSION_OPERATORS.get(str(mlmodel_crds.kubeconfig))
    if running is not None and running.proc.poll() is None:
        yield running
        return
    work = tmp_path_factory.mktemp("operator")
    clock_file, log = work / "clock-offset", work / "operator.log"
    clock_file.write_text("0")
    port, metrics_port = free_ports(2)
    pod_metrics = PodMetrics()
    env = {
        **operator_env(mlmodel_crds.kubeconfig, "registry.invalid/mlmodel:test", port, metrics_port),
        "MLMODEL_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS),
        "MLMODEL_OPERATOR_CLOCK_OFFSET_FILE": str(clock_file),
        "MLMODEL_OPERATOR_VERIFY_TIMEOUT": "3",
        "MLMODEL_OPERATOR_POD_METRICS_URL": pod_metrics.url_template,
        "MLMODEL_OPERATOR_ACTIVATOR_SERVICE": ACTIVATOR_SERVICE,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlmodel_operator", "--standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    handle = OperatorProcess(
        proc,
        log,
        clock_file,
        f"http://127.0.0.1:{port}/healthz",
        f"http://127.0.0.1:{metrics_port}/metrics",
        pod_metrics,
    )
    _SESSION_OPERATORS[str(mlmodel_crds.kubeconfig)] = handle
    try:
        wait_until(
            handle.healthy, what="the operator's liveness endpoint", timeout=60, check=handle.check_alive
        )
        yield handle
    finally:
        _SESSION_OPERATORS.pop(str(mlmodel_crds.kubeconfig), None)
        stop_process(proc)
        pod_metrics.close()


# The helpers for the operator tests live in tests/support/objects.py (the e2e tier uses them
# too); re-exported here for the tests that import them from this module.
from tests.support.objects import API, TIMEOUT, Objects  # noqa: E402, F401
