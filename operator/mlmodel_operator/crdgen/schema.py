"""OpenAPI v3 building blocks shared by the CRDs (structural, with CEL rules)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
NAME_RULE = {
    # Children are named <name>-mlmodel / <name>-vision and must be DNS-1035 labels.
    "rule": "self.metadata.name.size() <= 55 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
    "message": "metadata.name must be a DNS-1035 label (lowercase letters, digits, '-', "
    "starting with a letter) of at most 55 characters",
}


def string(max_length: int = 253, **extra: Any) -> Schema:
    return {"type": "string", "maxLength": max_length, **extra}


def obj(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    out: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        out["required"] = required
    return out


def string_map(max_props: int = 64, value_len: int = 253) -> Schema:
    return {"type": "object", "maxProperties": max_props, "additionalProperties": string(value_len)}


def quantity_map() -> Schema:
    quantity = {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
        "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
        r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
    }
    return {"type": "object", "additionalProperties": quantity}


def resources() -> Schema:
    return obj(
        {"limits": quantity_map(), "requests": quantity_map()},
        description="Container resources of the inference server.",
    )


def tolerations() -> Schema:
    item = obj(
        {
            "key": string(316),
            "operator": {"type": "string", "enum": ["Exists", "Equal"]},
            "value": string(63),
            "effect": {"type": "string", "enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
            "tolerationSeconds": {"type": "integer", "format": "int64"},
        }
    )
    return {"type": "array", "maxItems": 32, "items": item}


DURATION_SECONDS = (
    "(self.find('[0-9]+d') == '' ? 0 : int(self.find('[0-9]+d').replace('d', '')) * 86400) + "
    "(self.find('[0-9]+h') == '' ? 0 : int(self.find('[0-9]+h').replace('h', '')) * 3600) + "
    "(self.find('[0-9]+m') == '' ? 0 : int(self.find('[0-9]+m').replace('m', '')) * 60) + "
    "(self.find('[0-9]+s') == '' ? 0 : int(self.find('[0-9]+s').replace('s', '')))"
)


def auto_stop() -> Schema:
    return string(
        24,
        pattern=r"^([0-9]{1,3}d)?([0-9]{1,4}h)?([0-9]{1,5}m)?([0-9]{1,6}s)?$",
        description="Stop the service this long after it started running (e.g. 2h, 90m, 1d): "
        "the Deployment is scaled to zero and every object is kept. "
        "Between 1m and 7d.",
        **{
            "x-kubernetes-validations": [
                {
                    "rule": f"self != '' && {DURATION_SECONDS} >= 60 && {DURATION_SECONDS} <= 604800",
                    "message": "autoStop must be a duration between 1m and 7d, e.g. 90m, 2h or 1d",
                }
            ]
        },
    )


DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def auth() -> Schema:
    """`spec.auth`: the Secret key holding the bearer token (the operator never reads it)."""
    return obj(
        {
            "secretName": string(
                253, minLength=1, pattern=DNS_SUBDOMAIN, description="A Secret in this namespace."
            ),
            "key": string(
                253,
                minLength=1,
                pattern=r"^[-._a-zA-Z0-9]+$",
                default="token",
                description="The key holding the token (its first line is the token).",
            ),
        },
        required=["secretName"],
        description="Require 'Authorization: Bearer <token>' on the model endpoints; health, metrics "
        "and the test page stay open. The Secret is mounted read-only into the server container.",
    )


def label_selector() -> Schema:
    """A metav1.LabelSelector, as NetworkPolicy peers take it."""
    requirement = obj(
        {
            "key": string(317, minLength=1),
            "operator": {"type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
            "values": {"type": "array", "maxItems": 64, "items": string(63)},
        },
        required=["key", "operator"],
    )
    selector = obj(
        {
            "matchLabels": string_map(value_len=63),
            "matchExpressions": {"type": "array", "maxItems": 16, "items": requirement},
        }
    )
    selector["x-kubernetes-map-type"] = "atomic"
    return selector


def network_peer() -> Schema:
    """A networking.k8s.io/v1 NetworkPolicyPeer."""
    ip_block = obj(
        {"cidr": string(64, minLength=1), "except": {"type": "array", "maxItems": 32, "items": string(64)}},
        required=["cidr"],
    )
    peer = obj(
        {"podSelector": label_selector(), "namespaceSelector": label_selector(), "ipBlock": ip_block},
        description="podSelector alone: pods of this namespace; namespaceSelector: every pod of the "
        "matching namespaces (with podSelector: the matching pods there); ipBlock: addresses.",
    )
    peer["x-kubernetes-validations"] = [
        {
            "rule": "has(self.ipBlock) ? !has(self.podSelector) && !has(self.namespaceSelector) "
            ": has(self.podSelector) || has(self.namespaceSelector)",
            "message": "a peer is an ipBlock alone, or a podSelector and/or a namespaceSelector",
        }
    ]
    return peer


def network_policy() -> Schema:
    return obj(
        {
            "enabled": {"type": "boolean", "default": False},
            "allowFrom": {"type": "array", "maxItems": 32, "items": network_peer()},
        },
        description="A NetworkPolicy admitting only these peers to the server's port; empty allowFrom: "
        "pods of this namespace labelled mlmodel.dev/client=true. Needs a CNI that enforces policies.",
    )


def serving_knobs() -> dict[str, Schema]:
    """Pod and lifecycle fields shared by MLModelService and VisionService."""
    return {
        "replicas": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1},
        "image": string(512, description="Override the operator's inference image."),
        "serviceType": {
            "type": "string",
            "enum": ["ClusterIP", "NodePort", "LoadBalancer"],
            "default": "ClusterIP",
        },
        "args": {
            "type": "array",
            "maxItems": 32,
            "items": string(1024),
            "description": "Extra `mlmodel serve` arguments.",
        },
        "resources": resources(),
        "nodeSelector": string_map(),
        "tolerations": tolerations(),
        "affinity": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "description": "A core/v1 Affinity, passed to the pods unchanged.",
        },
        "progressDeadlineSeconds": {"type": "integer", "minimum": 30, "maximum": 7200, "default": 600},
        "autoStop": auto_stop(),
        "stopped": {
            "type": "boolean",
            "description": "true stops the service (scaled to zero, objects kept).",
        },
        "restartedAt": string(
            64,
            format="date-time",
            description="RFC3339 time; a value after status.stopTime "
            "restarts a stopped service and resets the timer.",
        ),
        "auth": auth(),
        "networkPolicy": network_policy(),
    }


def condition() -> Schema:
    return obj(
        {
            "type": string(64),
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": string(128),
            "message": string(32768),
            "lastTransitionTime": string(64, format="date-time"),
            "observedGeneration": {"type": "integer", "format": "int64"},
        },
        required=["type", "status"],
    )


def conditions() -> Schema:
    return {
        "type": "array",
        "items": condition(),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    }


def tensor_list() -> Schema:
    return {
        "type": "array",
        "items": obj(
            {"name": string(), "dtype": string(32), "shape": {"type": "array", "items": {"type": "integer"}}}
        ),
    }


def scaling_status() -> dict[str, Schema]:
    """Idle stop's bookkeeping and what the HorizontalPodAutoscaler reports."""
    autoscaler = obj(
        {
            "horizontalPodAutoscaler": string(),
            "minReplicas": {"type": "integer"},
            "maxReplicas": {"type": "integer"},
            "currentReplicas": {"type": "integer"},
            "desiredReplicas": {"type": "integer"},
            "target": string(256),
            "lastScaleTime": string(64, format="date-time"),
        }
    )
    return {
        "lastRequestTime": string(64, format="date-time"),
        "idleStopDueTime": string(64, format="date-time"),
        "wakeRequestedAt": string(
            64,
            format="date-time",
            description="When the activator last held a request for this stopped service "
            "(spec.wakeOnRequest), by its clock.",
        ),
        "wakeRequestedFor": string(
            64,
            format="date-time",
            description="The stopTime the activator's wake request ends: equal to stopTime, the "
            "service runs again.",
        ),
        "idleStopDeferred": string(4096),
        "autoscaling": autoscaler,
    }


def serving_status(extra: dict[str, Schema] | None = None) -> Schema:
    pin = obj(
        {
            "name": string(),
            "package": string(),
            "requested": string(128),
            "version": string(128),
            "sha256": string(64),
        }
    )
    served = obj(
        {
            "name": string(),
            "package": string(),
            "version": string(128),
            "sha256": string(64),
            "readyReplicas": {"type": "integer"},
        }
    )
    model = obj(
        {
            "package": string(),
            "model": string(1024),
            "sha256": string(64),
            "size": {"type": "integer", "format": "int64"},
            "inputs": tensor_list(),
            "outputs": tensor_list(),
            "truncated": {"type": "boolean"},
            "summaryError": string(1024),
        }
    )
    return obj(
        {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "phase": {
                "type": "string",
                "enum": ["Pending", "Deploying", "Running", "Stopped", "Failed", "Degraded"],
            },
            "conditions": conditions(),
            "resolvedPackages": {"type": "array", "items": pin},
            "servingPackages": {"type": "array", "items": served},
            "endpoint": string(512),
            "readyReplicas": {"type": "integer"},
            "runningSince": string(64, format="date-time"),
            "autoStopDueTime": string(64, format="date-time"),
            "stopTime": string(64, format="date-time"),
            "stopReason": string(64),
            "model": model,
            **scaling_status(),
            **(extra or {}),
        }
    )


def printer_columns() -> list[Schema]:
    ready = '.status.conditions[?(@.type=="Ready")].status'
    return [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        # What the Ready pods run: during a stuck rollout, the old version, not the one asked for.
        {"name": "Version", "type": "string", "jsonPath": ".status.servingPackages[0].version"},
        {"name": "Ready", "type": "string", "jsonPath": ready},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Stopped", "type": "date", "jsonPath": ".status.stopTime"},
        # A future time: shown as text, since a "date" column only renders ages.
        {"name": "Auto-Stop At", "type": "string", "jsonPath": ".status.autoStopDueTime"},
        {"name": "Idle-Stop At", "type": "string", "jsonPath": ".status.idleStopDueTime", "priority": 1},
        {"name": "Endpoint", "type": "string", "jsonPath": ".status.endpoint", "priority": 1},
    ]


def crd(
    kind: str,
    plural: str,
    short: list[str],
    spec: Schema,
    status: Schema,
    columns: list[Schema],
    root_rules: list[Schema] | None = None,
) -> Schema:
    root: Schema = obj(
        {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        required=["spec"],
    )
    if root_rules:
        root["x-kubernetes-validations"] = root_rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.mlmodel.dev"},
        "spec": {
            "group": "mlmodel.dev",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "categories": ["mlmodel"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                }
            ],
        },
    }
