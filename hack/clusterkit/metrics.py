"""metrics-server beside the real node: the `metrics.k8s.io` API for HPAs and `kubectl top`.

Why a host process and not the upstream Deployment: nothing can be pulled here, and a host
process needs no image, shares the cluster's certificates on disk and is stopped by `down`
like the kubelet. The apiserver reaches it as an aggregated API: a Service without selector
in kube-system whose Endpoints name the node's address, and an APIService trusting the
cluster CA, which signed metrics-server's serving certificate. It scrapes only the real node
(kwok nodes have no kubelet), verifying the kubelet's serving certificate against the same CA
and authenticating with a client certificate of its own (pki.py), which RBAC below lets read
nodes/metrics and delegate authentication and authorization to the apiserver.

Builders are pure; `start` spawns, applies the objects and waits for the node's metrics.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import NODE_IP, NODE_NAME
from .nodeconfig import REAL_NODE_LABEL

NAME = "metrics-server"
USER = "system:metrics-server"  # the client certificate's CN (pki.CLIENTS)
NAMESPACE = "kube-system"
SERVICE_DNS = f"{NAME}.{NAMESPACE}.svc"  # what the apiserver checks its serving certificate for
API_VERSION = "v1beta1"
API_GROUP = "metrics.k8s.io"
RBAC_GROUP = "rbac.authorization.k8s.io"
# Its minimum (10s) would also need a kubelet request timeout below the default; 15s is the
# HPA's own sync period, so a faster scrape would not scale sooner.
RESOLUTION = "15s"
Manifest = tuple[str, dict[str, Any]]  # (collection path to POST to, object)


def argv(bin_dir: Path, pki: Path, kubeconfigs: Path, port: int) -> list[str]:
    """Serve on the node's address; scrape kubelets of real nodes by InternalIP and the
    port their status reports (the kubelet's is picked at `up`, not 10250)."""
    kubeconfig = kubeconfigs / NAME
    return [
        str(bin_dir / NAME), f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={NODE_IP}", f"--secure-port={port}",
        f"--tls-cert-file={pki}/{NAME}-serving.crt", f"--tls-private-key-file={pki}/{NAME}-serving.key",
        f"--kubelet-certificate-authority={pki}/ca.crt",
        f"--kubelet-client-certificate={pki}/{NAME}.crt", f"--kubelet-client-key={pki}/{NAME}.key",
        "--kubelet-preferred-address-types=InternalIP", "--kubelet-use-node-status-port",
        f"--node-selector={REAL_NODE_LABEL}=true", f"--metric-resolution={RESOLUTION}",
    ]  # fmt: skip


def serving_sans() -> list[str]:
    """The names the apiserver may dial it by: the Service's DNS name, or the address."""
    return [f"DNS:{SERVICE_DNS}", f"IP:{NODE_IP}"]


def rbac() -> list[Manifest]:
    """Upstream's rules: read kubelets' metrics and list pods and nodes; delegate authn/authz."""
    rules = [
        {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
    ]
    rbac_api = f"/apis/{RBAC_GROUP}/v1"
    return [
        (f"{rbac_api}/clusterroles", _object(f"{RBAC_GROUP}/v1", "ClusterRole", USER, rules=rules)),
        (f"{rbac_api}/clusterrolebindings", _binding("ClusterRoleBinding", USER, "ClusterRole", USER)),
        (f"{rbac_api}/clusterrolebindings", _binding("ClusterRoleBinding", f"{NAME}:system:auth-delegator",
                                                     "ClusterRole", "system:auth-delegator")),
        (f"{rbac_api}/namespaces/{NAMESPACE}/rolebindings",
         _binding("RoleBinding", f"{NAME}-auth-reader", "Role", "extension-apiserver-authentication-reader",
                  NAMESPACE)),
    ]  # fmt: skip


def api_service(port: int, ca_pem: bytes) -> list[Manifest]:
    """A selector-less Service whose Endpoints name the host process, and the APIService.

    Endpoints rather than an EndpointSlice: the controller-manager mirrors them into a slice
    for kube-proxy, and the apiserver resolves either.
    """
    ports = [{"name": "https", "port": 443, "targetPort": port, "protocol": "TCP"}]
    subsets = [
        {"addresses": [{"ip": NODE_IP}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
    ]
    spec = {"group": API_GROUP, "version": API_VERSION, "groupPriorityMinimum": 100, "versionPriority": 100,
            "service": {"namespace": NAMESPACE, "name": NAME, "port": 443},
            "caBundle": base64.b64encode(ca_pem).decode()}  # fmt: skip
    core = f"/api/v1/namespaces/{NAMESPACE}"
    return [
        (f"{core}/services", _object("v1", "Service", NAME, NAMESPACE, spec={"ports": ports})),
        (f"{core}/endpoints", _object("v1", "Endpoints", NAME, NAMESPACE, subsets=subsets)),
        ("/apis/apiregistration.k8s.io/v1/apiservices",
         _object("apiregistration.k8s.io/v1", "APIService", f"{API_VERSION}.{API_GROUP}", spec=spec)),
    ]  # fmt: skip


def manifests(port: int, ca_pem: bytes) -> list[Manifest]:
    return rbac() + api_service(port, ca_pem)


def node_listed(nodes: Any) -> bool:
    """GET /apis/metrics.k8s.io/v1beta1/nodes has the real node: a full scrape went through."""
    return isinstance(nodes, dict) and any(
        item.get("metadata", {}).get("name") == NODE_NAME for item in nodes.get("items", [])
    )


def start(
    spawn: Callable[[str, list[str]], None],
    api: Callable[..., Any],
    wait: Callable[[str, Callable[[], Any]], Any],
    bin_dir: Path,
    pki: Path,
    kubeconfigs: Path,
    port: int,
) -> None:
    """Spawn it, register it with the apiserver, wait until it reports the real node."""
    spawn(NAME, argv(bin_dir, pki, kubeconfigs, port))
    for path, body in manifests(port, (pki / "ca.crt").read_bytes()):
        api("POST", path, body)
    wait(f"{API_GROUP} reporting node {NODE_NAME}",
         lambda: node_listed(api("GET", f"/apis/{API_GROUP}/{API_VERSION}/nodes")))  # fmt: skip


def _object(
    api_version: str, kind: str, name: str, namespace: str | None = None, **fields: Any
) -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}


def _binding(kind: str, name: str, role_kind: str, role: str, namespace: str | None = None) -> dict[str, Any]:
    """A (Cluster)RoleBinding of `role` to metrics-server's user."""
    role_ref = {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role}
    subjects = [{"apiGroup": RBAC_GROUP, "kind": "User", "name": USER}]
    return _object(f"{RBAC_GROUP}/v1", kind, name, namespace, roleRef=role_ref, subjects=subjects)
