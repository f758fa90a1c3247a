"""metrics-server's flags and objects: it scrapes only the real node, verifies the kubelet, and
the apiserver reaches it through an APIService that trusts the cluster CA."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "hack"))

from clusterkit import metrics
from clusterkit.common import NODE_IP, NODE_NAME


def test_scrapes_only_the_real_nodes_kubelet_and_verifies_it(tmp_path: Path) -> None:
    argv = metrics.argv(tmp_path / "bin", tmp_path / "pki", tmp_path / "kc", 4443)
    assert argv[0] == str(tmp_path / "bin" / "metrics-server")
    assert f"--kubelet-certificate-authority={tmp_path}/pki/ca.crt" in argv
    assert "--kubelet-preferred-address-types=InternalIP" in argv
    assert "--kubelet-use-node-status-port" in argv
    assert "--node-selector=mlmodel.dev/real-node=true" in argv
    assert f"--bind-address={NODE_IP}" in argv and "--secure-port=4443" in argv
    assert not [flag for flag in argv if "insecure" in flag]


def test_every_path_names_the_clusters_directory(tmp_path: Path) -> None:
    """The supervisor counts a process as the cluster's only if its argv names the directory."""
    argv = metrics.argv(tmp_path / "bin", tmp_path / "pki", tmp_path / "kc", 4443)
    assert all(str(tmp_path) in flag for flag in argv if "file" in flag or "kubeconfig" in flag)


def test_api_service_trusts_the_cluster_ca_and_points_at_the_host_process() -> None:
    objects = {body["kind"]: body for _, body in metrics.api_service(4443, b"PEM")}
    spec = objects["APIService"]["spec"]
    assert objects["APIService"]["metadata"]["name"] == "v1beta1.metrics.k8s.io"
    assert base64.b64decode(spec["caBundle"]) == b"PEM"
    assert spec["service"] == {"namespace": "kube-system", "name": "metrics-server", "port": 443}
    assert "selector" not in objects["Service"]["spec"]
    assert objects["Service"]["spec"]["ports"][0]["targetPort"] == 4443
    subset = objects["Endpoints"]["subsets"][0]
    assert subset["addresses"] == [{"ip": NODE_IP}] and subset["ports"][0]["port"] == 4443


def test_serving_certificate_names_what_the_apiserver_dials() -> None:
    assert metrics.serving_sans() == ["DNS:metrics-server.kube-system.svc", f"IP:{NODE_IP}"]


def test_rbac_reads_kubelet_metrics_and_delegates_authentication() -> None:
    bodies = [body for _, body in metrics.rbac()]
    role = next(b for b in bodies if b["kind"] == "ClusterRole")
    assert {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]} in role["rules"]
    roles = {b["roleRef"]["name"] for b in bodies if "roleRef" in b}
    assert roles == {metrics.USER, "system:auth-delegator", "extension-apiserver-authentication-reader"}
    assert all(b["subjects"][0]["name"] == metrics.USER for b in bodies if "subjects" in b)


def test_ready_once_the_real_node_is_listed() -> None:
    assert metrics.node_listed({"items": [{"metadata": {"name": NODE_NAME}}]})
    assert not metrics.node_listed({"items": [{"metadata": {"name": "kwok-node-0"}}]})
    assert not metrics.node_listed("service unavailable")
