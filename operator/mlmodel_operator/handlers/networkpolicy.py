"""Apply or remove a serving owner's NetworkPolicy (builders/network.py decides which).

Kept apart from serving.py so the reconcile gains one call. `Kube.apply` only knows the
core, apps and mlmodel.dev paths, so the server-side apply is spelled out here with the
same field manager and force; folding `networking.k8s.io` into `k8s/client.py` would
remove the duplication.
"""

from __future__ import annotations

from typing import Any

from mlmodel_operator import FIELD_MANAGER
from mlmodel_operator.builders import common, network
from mlmodel_operator.k8s.client import Kube, is_not_found
from mlmodel_operator.k8s.compare import covers


def sync_network_policy(kube: Kube, owner: dict[str, Any], component: str) -> None:
    """Server-side apply the policy when enabled; delete ours when disabled."""
    namespace = owner["metadata"]["namespace"]
    name = common.child_name(owner["metadata"]["name"], component)
    path = network.policy_path(namespace, name)
    policy = network.build_network_policy(owner, component)
    existing = kube.get(path)
    if policy is not None:
        if existing is None or not covers(existing, policy):  # an idle resync writes nothing
            query = {"fieldManager": FIELD_MANAGER, "force": "true"}
            kube.request("PATCH", path, query=query, body=policy, content_type="application/apply-patch+yaml")
        return
    if existing is None or not network.owned_by(existing, owner):
        return
    _delete(kube, path, existing["metadata"]["uid"])


def _delete(kube: Kube, path: str, uid: str) -> None:
    """The uid precondition: never delete a policy recreated since we read it."""
    from kubernetes.client import ApiException

    body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}}
    try:
        kube.request("DELETE", path, body=body)
    except ApiException as exc:
        if not is_not_found(exc) and getattr(exc, "status", None) != 409:
            raise
