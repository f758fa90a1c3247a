"""Fixtures for tests against a real control plane (hack/localcluster.py).

Every test under tests/cluster/ is marked `cluster`; deselect them with `-m "not cluster"`.
The cluster starts once per session (a few seconds once hack/build-k8s.sh has built the
binaries) and is torn down at the end. To iterate faster, start one yourself with
`python hack/localcluster.py up` and export MLMODEL_KUBECONFIG=<dir>/kubeconfig: the
session then reuses it and leaves it running.

Fixtures:
    local_cluster  session  LocalCluster (kubeconfig, bin_dir, kubectl(...))
    kube           session  the operator's own client (mlmodel_operator.k8s.client.Kube) as the
                            cluster admin (its kubeconfig)
    namespace      function a fresh namespace enforcing the `restricted` Pod Security Standard
    fault_cluster, fault_kube, fault_ns, operators   (fault_fixtures.py) a private control
                   plane for tests that restart its components, and operators to SIGKILL

Helpers for tests: `from localcluster import wait_until` (hack/ is put on sys.path here).
Operator fixtures: put them in tests/cluster/operator_fixtures.py and re-export them at the
end of this file (`from operator_fixtures import operator  # noqa: F401`; this directory is on
sys.path); pytest_plugins cannot be used in a non-root conftest.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

from tests.support.namespaces import namespace_name, restricted_namespace  # noqa: E402
from tests.support.tiers import RESTRICTED_LABELS, mark_tier  # noqa: E402

import localcluster  # noqa: E402
from localcluster import LocalCluster  # noqa: E402
from mlmodel_operator.k8s.client import Kube  # noqa: E402

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test below tests/cluster/ as `cluster`, before `-m` deselects anything."""
    mark_tier(items, HERE, pytest.mark.cluster)


# --- control plane ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The session's control plane; a start failure fails the tests loudly (never skips)."""
    external = os.environ.get("MLMODEL_KUBECONFIG")
    if external:
        cluster = LocalCluster.attach(Path(external))
    else:
        # die_with_parent: a session killed before teardown must not leave a cluster behind.
        cluster = LocalCluster(tmp_path_factory.getbasetemp() / "cluster", nodes=2, die_with_parent=True)
    error = None
    try:
        cluster.start()
    except (localcluster.ClusterError, OSError) as exc:
        error = str(exc)  # failed outside the except block so the report is one line
    if error:
        pytest.fail(f"local control plane did not start: {error}", pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def kube(local_cluster: LocalCluster) -> Iterator[Kube]:
    """The operator's client authenticated as the cluster admin (system:masters): the tests
    read and write objects the way the operator does."""
    api = Kube.from_kubeconfig(str(local_cluster.kubeconfig))
    failure = api.probe()
    if failure:  # any failure here means no usable cluster
        pytest.fail(f"apiserver behind {local_cluster.kubeconfig} unreachable: {failure}")
    yield api
    api.close()


# --- per-test isolation -------------------------------------------------------------------


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of its own per test, enforcing PSS `restricted`, deleted afterwards."""
    with restricted_namespace(kube, namespace_name(request.node.name, "t"), RESTRICTED_LABELS, 30) as name:
        yield name


# The operator and fault-injection fixtures live in their own modules; re-exported so tests
# can just ask for them.
from fault_fixtures import fault_cluster, fault_kube, fault_ns, operators  # noqa: E402, F401
from operator_fixtures import mlmodel_crds, mlmodel_operator  # noqa: E402, F401
