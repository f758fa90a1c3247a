"""Fixtures for fault injection: a control plane of their own and operators to kill.

The fault tests restart kube-apiserver and etcd and SIGKILL operators, so they
get a private LocalCluster (module scope, a few seconds to start) instead of the
session's: breaking the shared one would fail unrelated tests, and the
session's cluster-wide operator would reconcile the objects that the operator
under test is supposed to handle alone. Every operator started here watches
only its test's namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from operator_fixtures import REPO, OperatorProcess, install_crds
from tests.support.namespaces import namespace_name, restricted_namespace
from tests.support.tiers import RESTRICTED_LABELS

from localcluster import ClusterError, LocalCluster, free_ports, stop_process, wait_until
from mlmodel_operator.k8s.client import Kube


@pytest.fixture(scope="module")
def fault_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A private control plane with the CRDs installed (even with MLMODEL_KUBECONFIG set)."""
    cluster = LocalCluster(tmp_path_factory.mktemp("faults") / "cluster", nodes=2, die_with_parent=True)
    error = None
    try:
        cluster.start()
        install_crds(cluster)
    except (ClusterError, OSError) as exc:
        error = str(exc)
    if error:
        cluster.stop(quiet=True)
        pytest.fail(f"fault-injection control plane did not start: {error}", pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def fault_kube(fault_cluster: LocalCluster) -> Iterator[Kube]:
    api = Kube.from_kubeconfig(str(fault_cluster.kubeconfig))
    yield api
    api.close()


@pytest.fixture
def fault_ns(fault_kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A `restricted` namespace in the private cluster, deleted afterwards."""
    name = namespace_name(request.node.name, "f")
    with restricted_namespace(fault_kube, name, RESTRICTED_LABELS, 60) as created:
        yield created


class Operators:
    """Starts `python -m mlmodel_operator` processes; stops whatever is left at teardown."""

    def __init__(self, cluster: LocalCluster, work: Path) -> None:
        self.cluster, self.work, self.started = cluster, work, []  # type: ignore[var-annotated]

    def start(self, name: str, *args: str, **env: str) -> OperatorProcess:
        """One operator named `name` (its log: <work>/<name>.log) with extra CLI args and env."""
        log, clock_file = self.work / f"{name}.log", self.work / f"{name}.clock"
        clock_file.write_text("0")
        port, metrics_port = free_ports(2)
        full_env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO / "server")]),
            "MLMODEL_OPERATOR_LIVENESS_PORT": str(port),
            "MLMODEL_OPERATOR_METRICS_PORT": str(metrics_port),
            "MLMODEL_OPERATOR_IMAGE": "registry.invalid/mlmodel:test",
            "MLMODEL_OPERATOR_CLOCK_OFFSET_FILE": str(clock_file),
            "MLMODEL_OPERATOR_VERIFY_TIMEOUT": "3",
            **env,
        }
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mlmodel_operator", *args],
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        urls = f"http://127.0.0.1:{port}/healthz", f"http://127.0.0.1:{metrics_port}/metrics"
        op = OperatorProcess(proc, log, clock_file, *urls)
        self.started.append(op)
        wait_until(op.healthy, what=f"operator {name} /healthz", timeout=90, check=op.check_alive)
        return op

    @staticmethod
    def kill(op: OperatorProcess) -> float:
        """SIGKILL, as an OOM kill or a node loss would; returns the monotonic time of death."""
        op.proc.send_signal(signal.SIGKILL)
        op.proc.wait(timeout=10)
        return time.monotonic()

    @staticmethod
    def terminate(op: OperatorProcess) -> float:
        """SIGTERM, as a rolling update would; returns the monotonic time it was sent."""
        sent = time.monotonic()
        op.proc.send_signal(signal.SIGTERM)
        return sent

    def stop_all(self) -> None:
        for op in self.started:
            if op.proc.poll() is None:
                stop_process(op.proc)


@pytest.fixture
def operators(fault_cluster: LocalCluster, tmp_path: Path) -> Iterator[Operators]:
    ops = Operators(fault_cluster, tmp_path)
    yield ops
    ops.stop_all()


def log_lines(op: OperatorProcess, needle: str) -> list[str]:
    return [line for line in op.log.read_text(errors="replace").splitlines() if needle in line]


def figures(record: dict[str, Any]) -> None:
    """Print a test's measurements in one greppable line (`pytest -s` or the -rA report)."""
    print("FIGURES " + " ".join(f"{k}={v}" for k, v in record.items()))
