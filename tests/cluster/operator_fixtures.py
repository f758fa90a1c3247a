"""The operator under test: `python -m mlmodel_operator` as a subprocess against the
session's local control plane, with a clock the tests can move.

Import the fixtures into a test module (`from operator_fixtures import mlmodel_operator`)
or re-export them from conftest.py. A subprocess (rather than kopf in a thread) exercises
the real entry point, kopf's login, liveness endpoint and signal handling.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localcluster import LocalCluster, free_ports, stop_process, wait_until
from mlmodel_operator.k8s.client import Kube, collection_path, object_path

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
RESYNC_SECONDS = 2


@dataclass
class OperatorProcess:
    """Handle on the running operator: its log, liveness URL and injectable clock."""

    proc: subprocess.Popen[bytes]
    log: Path
    clock_file: Path
    liveness_url: str
    metrics_url: str

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
    env = {
        **os.environ,
        "KUBECONFIG": str(mlmodel_crds.kubeconfig),
        "PYTHONPATH": os.pathsep.join(
            [str(REPO / "operator"), str(REPO / "server"), os.environ.get("PYTHONPATH", "")]
        ),
        "MLMODEL_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS),
        "MLMODEL_OPERATOR_CLOCK_OFFSET_FILE": str(clock_file),
        "MLMODEL_OPERATOR_LIVENESS_PORT": str(port),
        "MLMODEL_OPERATOR_METRICS_PORT": str(metrics_port),
        "MLMODEL_OPERATOR_IMAGE": "registry.invalid/mlmodel:test",
        "MLMODEL_OPERATOR_VERIFY_TIMEOUT": "3",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlmodel_operator", "--standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    handle = OperatorProcess(
        proc, log, clock_file, f"http://127.0.0.1:{port}/healthz", f"http://127.0.0.1:{metrics_port}/metrics"
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


# --- helpers for the operator tests -------------------------------------------------------

API = "mlmodel.dev/v1alpha1"
TIMEOUT = 60


class Objects:
    """Dict-in, dict-out access to one namespace (the operator's own thin client)."""

    def __init__(self, api_client: Any, namespace: str, op: OperatorProcess | None = None):
        self.kube, self.ns, self.op = Kube(api_client), namespace, op

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        body = {**obj, "metadata": {**obj["metadata"], "namespace": self.ns}}
        return self.kube.request("POST", collection_path(obj["apiVersion"], obj["kind"], self.ns), body=body)  # type: ignore[no-any-return]

    def get(self, kind: str, name: str, api: str = API) -> dict[str, Any] | None:
        return self.kube.get(object_path(api, kind, self.ns, name))

    def list(self, kind: str, api: str = "v1", selector: str | None = None) -> list[dict]:
        return self.kube.list(collection_path(api, kind, self.ns), selector)

    def patch(
        self, kind: str, name: str, body: dict[str, Any], api: str = API, subresource: str = ""
    ) -> dict[str, Any]:
        path = object_path(api, kind, self.ns, name) + subresource
        return self.kube.request(
            "PATCH",
            path,
            body=body,  # type: ignore[no-any-return]
            content_type="application/merge-patch+json",
        )

    def delete(self, kind: str, name: str, api: str = API) -> None:
        self.kube.request("DELETE", object_path(api, kind, self.ns, name))

    def wait(self, condition: Any, what: str, timeout: float = TIMEOUT) -> Any:
        check = self.op.check_alive if self.op else None
        return wait_until(condition, what=what, timeout=timeout, interval=0.3, check=check)

    def status(self, kind: str, name: str) -> dict[str, Any]:
        return dict((self.get(kind, name) or {}).get("status") or {})

    def condition(self, kind: str, name: str, type_: str) -> dict[str, Any]:
        conds = self.status(kind, name).get("conditions") or []
        return next((c for c in conds if c.get("type") == type_), {})

    def wait_phase(self, kind: str, name: str, phase: str, timeout: float = TIMEOUT) -> dict:
        return self.wait(
            lambda: (s := self.status(kind, name)).get("phase") == phase and s,
            f"{kind}/{name} phase {phase} (now {self.status(kind, name)})",
            timeout,
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.list("Event") if e["involvedObject"]["name"] == name]
