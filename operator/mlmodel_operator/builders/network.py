"""The optional NetworkPolicy in front of a serving owner's pods (`spec.networkPolicy`).

Off by default: a cluster without a policy-enforcing CNI would ignore it anyway, and
turning it on changes who can reach the model. When on, it selects exactly the pods of
the owner's Deployment and admits TCP to the `http` and `grpc` ports from the peers listed in
`allowFrom`; with no peers listed, only pods of the same namespace labelled
`mlmodel.dev/client: "true"` get in, so enabling it is "deny by default, opt clients in".
With `spec.wakeOnRequest` the shared activator's pods (in the operator's namespace) are
admitted to the `http` port too: it forwards the held requests to the woken pods, and a
policy without it would turn every wake into held requests that time out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from mlmodel_operator.builders import common

API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"
CLIENT_LABEL = "mlmodel.dev/client"
DEFAULT_PEERS: tuple[dict[str, Any], ...] = ({"podSelector": {"matchLabels": {CLIENT_LABEL: "true"}}},)
PEER_KEYS = ("podSelector", "namespaceSelector", "ipBlock")
# The chart's labels on the activator's pods (charts/.../_helpers.tpl activatorLabels).
ACTIVATOR_POD_LABELS = {
    "app.kubernetes.io/component": "activator",
    "app.kubernetes.io/part-of": "mlmodel-operator",
}


def enabled(owner: dict[str, Any]) -> bool:
    return bool(((owner.get("spec") or {}).get("networkPolicy") or {}).get("enabled"))


def _peer(peer: dict[str, Any]) -> dict[str, Any]:
    """Only the NetworkPolicyPeer fields, copied as written (the CRD validated them)."""
    return {key: peer[key] for key in PEER_KEYS if key in peer}


def allowed_peers(owner: dict[str, Any]) -> list[dict[str, Any]]:
    """`allowFrom`, or the default client label when it is empty or absent.

    An empty `from` list would mean "everyone" in a NetworkPolicy, the opposite of what
    someone enabling the policy wants, so it is never produced.
    """
    listed = ((owner.get("spec") or {}).get("networkPolicy") or {}).get("allowFrom") or []
    peers = [p for p in (_peer(dict(x)) for x in listed) if p]
    return peers or [dict(p) for p in DEFAULT_PEERS]


def activator_rule(owner: dict[str, Any], activator_namespace: str | None) -> list[dict[str, Any]]:
    """The ingress rule for the activator's forwarded requests, when this owner may wake."""
    if activator_namespace is None or not (owner.get("spec") or {}).get("wakeOnRequest"):
        return []
    peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": activator_namespace}},
        "podSelector": {"matchLabels": dict(ACTIVATOR_POD_LABELS)},
    }
    return [{"from": [peer], "ports": [{"protocol": "TCP", "port": common.HTTP_PORT}]}]


def build_network_policy(
    owner: dict[str, Any], component: str, activator_namespace: str | None = None
) -> dict[str, Any] | None:
    """The policy when `spec.networkPolicy.enabled`, else None (the reconcile deletes it).

    `activator_namespace`: where the operator's activator runs, None without one."""
    if not enabled(owner):
        return None
    owner_name = owner["metadata"]["name"]
    name = common.child_name(owner_name, component)
    clients = {
        "from": allowed_peers(owner),
        "ports": [
            {"protocol": "TCP", "port": common.HTTP_PORT},
            {"protocol": "TCP", "port": common.GRPC_PORT},
        ],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": common.child_metadata(owner, name, component),
        "spec": {
            "podSelector": {"matchLabels": common.selector_labels(owner_name, component)},
            "policyTypes": ["Ingress"],
            "ingress": [clients, *activator_rule(owner, activator_namespace)],
        },
    }


def policy_path(namespace: str, name: str) -> str:
    """The object's API path (the operator's client only knows the core and apps groups)."""
    return (
        f"/apis/{API_VERSION}/namespaces/{quote(namespace, safe='')}/networkpolicies/{quote(name, safe='')}"
    )


def owned_by(policy: dict[str, Any], owner: dict[str, Any]) -> bool:
    """Delete only a policy this owner controls, never one a user created under the same name."""
    uid = owner["metadata"].get("uid")
    refs = (policy.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in refs)
