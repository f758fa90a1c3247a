"""Names, labels, owner references and hashes shared by every child builder."""

from __future__ import annotations

import hashlib
import json
from typing import Any

NAME = "mlmodel-server"
MANAGED_BY = "mlmodel-operator"
PART_OF = "mlmodel-operator"
HTTP_PORT = 8080
GRPC_PORT = 8081  # the Open Inference Protocol over gRPC, as KServe's
COMPONENT_SUFFIX = {"mlmodel": "mlmodel", "vision": "vision"}
OWNER_KIND = {"mlmodel": "MLModelService", "vision": "VisionService"}
COMPONENT_OF_KIND = {kind: component for component, kind in OWNER_KIND.items()}

ANNOTATION_PACKAGES = "mlmodel.dev/packages"
ANNOTATION_TEMPLATE_HASH = "mlmodel.dev/template-hash"
ANNOTATION_VISION_CONFIG = "mlmodel.dev/vision-config-sha256"
ANNOTATION_RESTARTED_AT = "mlmodel.dev/restartedAt"


def child_name(owner_name: str, component: str) -> str:
    """`<owner>-mlmodel` / `<owner>-vision`: kinds never collide on one name.

    The CRDs cap owner names at 55 characters so the result is a valid
    Service name (a DNS-1035 label of at most 63).
    """
    return f"{owner_name}-{COMPONENT_SUFFIX[component]}"


def selector_labels(owner_name: str, component: str) -> dict[str, str]:
    """The immutable subset used in Deployment and Service selectors."""
    return {
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/instance": owner_name,
        "app.kubernetes.io/component": component,
    }


def labels(owner_name: str, component: str) -> dict[str, str]:
    return {
        **selector_labels(owner_name, component),
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": PART_OF,
    }


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """Controller reference: Kubernetes GC deletes children with their owner."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def child_metadata(owner: dict[str, Any], name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": labels(owner["metadata"]["name"], component),
        "ownerReferences": [owner_reference(owner)],
    }


def stable_hash(value: Any, length: int = 16) -> str:
    """A digest of a JSON-able value that does not depend on dict ordering."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def endpoint(owner: dict[str, Any], component: str) -> str:
    """The in-cluster URL status reports."""
    name = child_name(owner["metadata"]["name"], component)
    return f"http://{name}.{owner['metadata']['namespace']}.svc:{HTTP_PORT}"
