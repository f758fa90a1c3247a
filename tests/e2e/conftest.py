"""Fixtures of the e2e tier: a control plane with a real kubelet node, and the operator
installed by its Helm chart, running as a pod from the locally built image.

Every test here is marked `e2e`. The cluster starts once per session (hack/localcluster.py
with `real_node=True`: containerd, runc, CNI, kubelet, kube-proxy) and imports the product
image, built once by hack/build-image.sh and cached by the hash of its inputs
(MLMODEL_IMAGE_ARCHIVE names a prebuilt archive). The last module, test_zz_down.py, stops
it and asserts that nothing is left on the host.

Fixtures:
    real_cluster  session  LocalCluster with the real node
    kube          session  the operator's own client (mlmodel_operator.k8s.client.Kube), admin
    operator_pod  session  the chart's operator pod (helm install), Ready
    objs          function Objects in a fresh namespace enforcing PSS `restricted`
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

import localcluster  # noqa: E402
from localcluster import LocalCluster, wait_until  # noqa: E402
from mlmodel_operator.k8s.client import Kube  # noqa: E402
from tests.e2e.operator_pod import OperatorPod, install_operator  # noqa: E402
from tests.support.namespaces import namespace_name, restricted_namespace  # noqa: E402
from tests.support.objects import Objects  # noqa: E402
from tests.support.tiers import RESTRICTED_LABELS, mark_tier  # noqa: E402

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test below tests/e2e/ as `e2e`, before `-m` deselects anything."""
    mark_tier(items, HERE, pytest.mark.e2e)


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The session's cluster with a real node; a start failure fails loudly, never skips."""
    external = os.environ.get("MLMODEL_E2E_KUBECONFIG")
    if external:
        cluster = LocalCluster.attach(Path(external))
    else:
        cluster = LocalCluster(tmp_path_factory.getbasetemp() / "e2e-cluster", nodes=1, real_node=True,
                               die_with_parent=True, startup_timeout=300)  # fmt: skip
    error = None
    try:
        cluster.start()
    except (localcluster.ClusterError, OSError, subprocess.SubprocessError) as exc:
        error = str(exc)
    if error:
        pytest.fail(f"cluster with a real node did not start: {error}", pytrace=False)
    print(f"\n[e2e] cluster up: {cluster.timings}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def kube(real_cluster: LocalCluster) -> Iterator[Kube]:
    api = Kube.from_kubeconfig(str(real_cluster.kubeconfig))
    yield api
    api.close()


@pytest.fixture(scope="session")
def operator_pod(
    real_cluster: LocalCluster, kube: Kube, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorPod]:
    """`helm install` of the chart with the local image, in a namespace enforcing `restricted`."""
    names = lambda: [n["metadata"]["name"] for n in kube.list("/api/v1/namespaces")]  # noqa: E731
    wait_until(lambda: "mlmodel-system" not in names(), what="an earlier mlmodel-system gone", timeout=120)
    with (
        restricted_namespace(kube, "mlmodel-system", RESTRICTED_LABELS, 60),
        install_operator(real_cluster, kube, tmp_path_factory.mktemp("helm")) as pod,
    ):
        yield pod


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    with restricted_namespace(kube, namespace_name(request.node.name, "e"), RESTRICTED_LABELS, 60) as name:
        yield name


@pytest.fixture
def objs(kube: Kube, namespace: str, operator_pod: OperatorPod) -> Objects:
    return Objects(kube, namespace, operator_pod)


def wait_for(condition: Any, what: str, timeout: float = 120, check: Any = None) -> Any:
    """wait_until with the e2e tier's generous default (real pods start in seconds)."""
    return wait_until(condition, what=what, timeout=timeout, interval=0.2, check=check)
