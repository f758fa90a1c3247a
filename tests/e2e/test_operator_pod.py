"""The chart's operator runs as a pod: on the real node, under its ServiceAccount, in a
namespace enforcing the `restricted` Pod Security Standard, with kopf peering electing it,
its logs readable with `kubectl logs`, and its readiness meaning its watches are up."""

from __future__ import annotations

from tests.e2e.conftest import wait_for
from tests.e2e.operator_pod import NAMESPACE, PEERING, OperatorPod

REAL_NODE = "mlmodel-node"


def test_operator_pod_runs_on_the_real_node_under_its_service_account(operator_pod: OperatorPod) -> None:
    pod = operator_pod.pod()
    spec = pod["spec"]
    print(f"\n[e2e] operator pod {pod['metadata']['name']} on {spec['nodeName']}, "
          f"started {pod['status'].get('startTime')}")  # fmt: skip
    assert spec["nodeName"] == REAL_NODE
    assert spec["serviceAccountName"] == "mlmodel-operator"
    assert spec["securityContext"]["runAsNonRoot"]
    ns = operator_pod.kube.get(f"/api/v1/namespaces/{NAMESPACE}")
    assert ns is not None and ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_operator_reaches_the_api_server_and_logs_are_readable(operator_pod: OperatorPod) -> None:
    """kubectl logs goes apiserver -> kubelet (webhook-authorized); the log shows the watches."""
    logs = wait_for(lambda: (text := operator_pod.logs()) and "ClientConnectorError" not in text and text,
                    "operator logs")  # fmt: skip
    assert "ClientConnectorError" not in logs
    assert logs.strip(), "kubectl logs returned nothing"


def test_kopf_peering_names_the_operator_pod(operator_pod: OperatorPod) -> None:
    """Leader election: the ClusterKopfPeering lists the pod as the active peer."""

    def peers() -> dict:
        obj = operator_pod.kube.get(f"/apis/kopf.dev/v1/clusterkopfpeerings/{PEERING}") or {}
        return dict(obj.get("status") or {})

    status = wait_for(lambda: peers() or None, f"ClusterKopfPeering {PEERING} status", timeout=60)
    assert any(operator_pod.name in peer for peer in status), status
