"""The operator as a user installs it: `helm install` of the chart with the locally built
image, as a pod on the real node under its ServiceAccount, with kopf peering on."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster import LocalCluster, wait_until
from mlmodel_operator.k8s.client import Kube, collection_path, object_path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "mlmodel-operator"
RELEASE, NAMESPACE, PEERING = "mlmodel-operator", "mlmodel-system", "mlmodel-e2e"
SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=operator"


def image_ref() -> tuple[str, str]:
    """(repository, tag) of the image hack/build-image.sh builds and `up` imports."""
    text = (REPO / "pyproject.toml").read_text()
    version = re.search(r'^version = "(.+)"$', text, re.M)
    assert version, "pyproject.toml has no version"
    return "localhost/mlmodel-operator", version.group(1)


@dataclass
class OperatorPod:
    """The chart's operator pod; `check_alive` fails a wait fast when it restarts or dies."""

    cluster: LocalCluster
    kube: Kube
    name: str

    def pod(self) -> dict[str, Any]:
        pod = self.kube.get(object_path("v1", "Pod", NAMESPACE, self.name))
        assert pod is not None, f"operator pod {self.name} is gone"
        return pod

    def check_alive(self) -> None:
        status = self.pod()["status"]
        restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
        if status.get("phase") != "Running" or restarts:
            raise AssertionError(f"operator pod {self.name}: {status.get('phase')}, {restarts} restarts; "
                                 f"log tail: {self.logs()[-800:]}")  # fmt: skip

    def logs(self) -> str:
        """What `kubectl logs` shows: proof that the API server reaches the kubelet."""
        return self.cluster.kubectl("logs", "-n", NAMESPACE, self.name, check=False)


def helm(cluster: LocalCluster, home: Path, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}  # fmt: skip
    proc = subprocess.run([str(cluster.bin_dir / "helm"), *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, f"helm {' '.join(args)}: {proc.stderr}"
    return proc.stdout


@contextlib.contextmanager
def install_operator(cluster: LocalCluster, kube: Kube, home: Path) -> Iterator[OperatorPod]:
    """Install, wait for the pod's readiness (its watches are up), uninstall afterwards."""
    repository, tag = image_ref()
    helm(cluster, home, "install", RELEASE, str(CHART), "--namespace", NAMESPACE,
         "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
         "--set", "image.pullPolicy=Never", "--set", f"peering.name={PEERING}",
         "--set", "operator.resyncSeconds=5")  # fmt: skip
    try:
        name = wait_until(lambda: _ready_pod(kube), what="the operator pod Ready", timeout=180, interval=0.5)
        yield OperatorPod(cluster, kube, name)
    finally:
        if cluster.is_running():  # test_zz_down may have stopped the whole cluster already
            helm(cluster, home, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "120s")


def _ready_pod(kube: Kube) -> str | None:
    for pod in kube.list(collection_path("v1", "Pod", NAMESPACE), SELECTOR):
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return str(pod["metadata"]["name"])
    return None
