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

from localcluster import wait_until
from mlmodel_operator.k8s.client import ApiError, Kube, collection_path, object_path

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


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def wait_for_ready_deployment(kube: Kube, namespace: str, name: str, n: int) -> None:
    """Poll until the Deployment reports `n` ready and available replicas."""
    path = object_path("apps/v1", "Deployment", namespace, name) + "/status"

    def ready() -> bool:
        status = (kube.get(path) or {}).get("status") or {}
        return status.get("readyReplicas") == n and status.get("availableReplicas") == n

    wait_until(ready, what=f"{n} ready replicas of {name}", timeout=TIMEOUT, interval=POLL)


def create(kube: Kube, namespace: str, obj: dict[str, Any], **query: str) -> Any:
    path = collection_path(obj.get("apiVersion", "v1"), obj.get("kind", "Pod"), namespace)
    return kube.request("POST", path, body=obj, query=query or None)


def pods(kube: Kube, namespace: str, selector: str) -> list[dict[str, Any]]:
    return kube.list(collection_path("v1", "Pod", namespace), selector)


def test_version_reports_the_pinned_release(kube: Kube) -> None:
    info = kube.request("GET", "/version")
    assert info["gitVersion"] == f"v{pinned_k8s_version()}"


def test_deployment_gets_ready_pods_on_kwok_nodes(kube: Kube, namespace: str) -> None:
    create(kube, namespace, deployment("web", 2))

    wait_for_ready_deployment(kube, namespace, "web", 2)

    web = pods(kube, namespace, "app=web")
    kwok_nodes = {n["metadata"]["name"] for n in kube.list("/api/v1/nodes", "type=kwok")}
    assert len(web) == 2
    for pod in web:
        assert pod["spec"]["nodeName"] in kwok_nodes, "bound by kube-scheduler to a kwok node"
        assert pod["status"]["phase"] == "Running"
        assert is_ready(pod)
        assert pod["status"].get("podIP"), "kwok assigns a fake pod IP"
        # The ServiceAccount admission plugin injected the projected token volume.
        assert any(v["name"].startswith("kube-api-access-") for v in pod["spec"]["volumes"])


def test_privileged_pod_is_refused_by_pod_security(kube: Kube, namespace: str) -> None:
    privileged = {"metadata": {"name": "root"}, "spec": restricted_pod_spec(privileged=True)}

    with pytest.raises(ApiError) as refused:
        create(kube, namespace, privileged)

    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "securityContext.privileged=true" in message
    # Control: the same pod without privileges is admitted, so the refusal is PodSecurity's.
    compliant = {"metadata": {"name": "ok"}, "spec": restricted_pod_spec()}
    create(kube, namespace, compliant, dryRun="All")


def test_deleting_a_deployment_garbage_collects_replicaset_and_pods(kube: Kube, namespace: str) -> None:
    create(kube, namespace, deployment("gc", 2))
    wait_for_ready_deployment(kube, namespace, "gc", 2)
    replicasets = collection_path("apps/v1", "ReplicaSet", namespace)
    (replicaset,) = kube.list(replicasets, "app=gc")
    assert [o["kind"] for o in replicaset["metadata"]["ownerReferences"]] == ["Deployment"]
    owners = {o["name"] for p in pods(kube, namespace, "app=gc") for o in p["metadata"]["ownerReferences"]}
    assert owners == {replicaset["metadata"]["name"]}

    # Background propagation: the apiserver deletes only the Deployment; the rest is GC's job.
    path = object_path("apps/v1", "Deployment", namespace, "gc")
    kube.request("DELETE", path, query={"propagationPolicy": "Background"})

    def collected() -> bool:
        return not kube.list(replicasets, "app=gc") and not pods(kube, namespace, "app=gc")

    wait_until(collected, what="GC of the ReplicaSet and its pods", timeout=TIMEOUT, interval=POLL)
