"""Apply or remove a serving owner's NetworkPolicy (builders/network.py decides which).

Kept apart from serving.py so the reconcile gains one call. NetworkPolicies are watched
like the other children, so a disabled policy costs no request: only one the store has
seen, and that this owner owns, is deleted.
"""

from __future__ import annotations

from typing import Any

from mlmodel_operator.builders import common, network
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.k8s.client import delete_exactly


def sync_network_policy(rt: Runtime, owner: dict[str, Any], component: str) -> None:
    """Server-side apply the policy when enabled; delete ours when disabled."""
    activator = rt.config.activator_service
    policy = network.build_network_policy(owner, component, activator.namespace if activator else None)
    if policy is not None:
        rt.ensure(policy)  # an idle resync writes nothing
        return
    namespace = owner["metadata"]["namespace"]
    name = common.child_name(owner["metadata"]["name"], component)
    existing = rt.store.get(network.KIND, namespace, name)
    if existing is None or not network.owned_by(existing, owner):
        return
    delete_exactly(rt.kube, network.policy_path(namespace, name), existing["metadata"]["uid"])
    rt.store.remove(existing)
