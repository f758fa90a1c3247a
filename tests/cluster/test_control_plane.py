"""The local control plane behaves like a real cluster where the operator depends on it.

Each test proves one mechanism the operator relies on: the pinned version, Deployments
turning into Ready pods (controller-manager + scheduler + kwok), PodSecurity admission, and
garbage collection through owner references.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from localcluster import wait_until

pytestmark = pytest.mark.cluster

VERSIONS_ENV = Path(__file__).resolve().parents[2] / "hack" / "versions.env"
TIMEOUT = 60  # seconds; kwok makes pods Ready within a second or two
POLL = 0.5


def pinned_k8s_version() -> str:
    """K8S_VERSION from hack/versions.env, the pin the binaries were built from."""
    for line in VERSIONS_ENV.read_text().splitlines():
        if line.startswith("K8S_VERSION="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("K8S_VERSION missing from hack/versions.env")


def restricted_pod_spec(privileged: bool = False) -> dict[str, Any]:
    """A pod spec that passes PSS `restricted` unless `privileged` is set."""
    container_sc: dict[str, Any] = {
        "allowPrivilegeEscalation": privileged,
        "capabilities": {"drop": ["ALL"]},
    }
    if privileged:
        container_sc["privileged"] = True
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "app",
                "image": "registry.invalid/never-pulled:1",  # kwok runs no containers
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                "securityContext": container_sc,
            }
        ],
    }


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": restricted_pod_spec()},
        },
    }


def is_ready(pod: client.V1Pod) -> bool:
    conditions = pod.status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def wait_for_ready_deployment(kube: client.ApiClient, namespace: str, name: str, n: int) -> None:
    """Poll until the Deployment reports `n` ready and available replicas."""
    apps = client.AppsV1Api(kube)

    def ready() -> bool:
        status = apps.read_namespaced_deployment_status(name, namespace).status
        return status.ready_replicas == n and status.available_replicas == n

    wait_until(ready, what=f"{n} ready replicas of {name}", timeout=TIMEOUT, interval=POLL)


def test_version_reports_the_pinned_release(kube: client.ApiClient) -> None:
    info = client.VersionApi(kube).get_code()
    assert info.git_version == f"v{pinned_k8s_version()}"


def test_deployment_gets_ready_pods_on_kwok_nodes(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    client.AppsV1Api(kube).create_namespaced_deployment(namespace, deployment("web", 2))

    wait_for_ready_deployment(kube, namespace, "web", 2)

    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    kwok_nodes = {n.metadata.name for n in core.list_node(label_selector="type=kwok").items}
    assert len(pods) == 2
    for pod in pods:
        assert pod.spec.node_name in kwok_nodes, "bound by kube-scheduler to a kwok node"
        assert pod.status.phase == "Running"
        assert is_ready(pod)
        assert pod.status.pod_ip, "kwok assigns a fake pod IP"
        # The ServiceAccount admission plugin injected the projected token volume.
        assert any(v.name.startswith("kube-api-access-") for v in pod.spec.volumes)


def test_privileged_pod_is_refused_by_pod_security(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    privileged = {"metadata": {"name": "root"}, "spec": restricted_pod_spec(privileged=True)}

    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, privileged)

    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "securityContext.privileged=true" in message
    # Control: the same pod without privileges is admitted, so the refusal is PodSecurity's.
    compliant = {"metadata": {"name": "ok"}, "spec": restricted_pod_spec()}
    core.create_namespaced_pod(namespace, compliant, dry_run="All")


def test_deleting_a_deployment_garbage_collects_replicaset_and_pods(
    kube: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)
    apps.create_namespaced_deployment(namespace, deployment("gc", 2))
    wait_for_ready_deployment(kube, namespace, "gc", 2)
    (replicaset,) = apps.list_namespaced_replica_set(namespace, label_selector="app=gc").items
    assert [o.kind for o in replicaset.metadata.owner_references] == ["Deployment"]
    pods = core.list_namespaced_pod(namespace, label_selector="app=gc").items
    assert {o.name for p in pods for o in p.metadata.owner_references} == {replicaset.metadata.name}

    # Background propagation: the apiserver deletes only the Deployment; the rest is GC's job.
    apps.delete_namespaced_deployment("gc", namespace, propagation_policy="Background")

    def collected() -> bool:
        replicasets = apps.list_namespaced_replica_set(namespace, label_selector="app=gc").items
        left = core.list_namespaced_pod(namespace, label_selector="app=gc").items
        return not replicasets and not left

    wait_until(collected, what="GC of the ReplicaSet and its pods", timeout=TIMEOUT, interval=POLL)
