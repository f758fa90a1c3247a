"""Deployment, Service and ConfigMap manifests for a serving owner."""

from __future__ import annotations

import json
from typing import Any

from mlmodel_operator.builders import common
from mlmodel_operator.builders.pod import VISION_FILE, ServingInputs, pod_template

VISION_KEYS = (
    "default_minimum_confidence",
    "label_confidences",
    "remap_input_names",
    "remap_output_names",
    "xmin_ymin_xmax_ymax_order",
    "input_image_mean_value",
    "input_image_std_dev",
    "input_image_bgr",
)


def build_deployment(inputs: ServingInputs, replicas: int | None) -> dict[str, Any]:
    """Rolling updates add a pod before removing one, so a bad version never takes
    the endpoint down: old pods keep serving until new ones are ready. Replicas None:
    left out, for the HorizontalPodAutoscaler to set."""
    owner, spec = inputs.owner, inputs.spec
    name = common.child_name(owner["metadata"]["name"], inputs.component)
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.child_metadata(owner, name, inputs.component),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": common.selector_labels(owner["metadata"]["name"], inputs.component)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "progressDeadlineSeconds": int(spec.get("progressDeadlineSeconds", 600)),
            "revisionHistoryLimit": 3,
            "template": pod_template(inputs),
        },
    }
    if replicas is None:
        del deployment["spec"]["replicas"]
    return deployment


def build_service(owner: dict[str, Any], component: str) -> dict[str, Any]:
    """Two ports in front of the pods: `http` (the endpoint status reports) and `grpc`
    (appProtocol grpc, so meshes and gateways that read it speak HTTP/2 to it)."""
    owner_name, spec = owner["metadata"]["name"], owner.get("spec") or {}
    name = common.child_name(owner_name, component)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": common.child_metadata(owner, name, component),
        "spec": {
            "type": spec.get("serviceType", "ClusterIP"),
            "selector": common.selector_labels(owner_name, component),
            "ports": [
                {"name": "http", "port": common.HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {
                    "name": "grpc",
                    "port": common.GRPC_PORT,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "grpc",
                },
            ],
        },
    }


def vision_config(vision: dict[str, Any]) -> str:
    """The `--vision-config` JSON: the VisionService attributes under Viam's exact keys."""
    attrs = (vision.get("spec") or {}).get("attributes") or {}
    return json.dumps({k: attrs[k] for k in VISION_KEYS if k in attrs}, sort_keys=True, indent=2)


def build_configmap(vision: dict[str, Any]) -> dict[str, Any]:
    name = common.child_name(vision["metadata"]["name"], "vision")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": common.child_metadata(vision, name, "vision"),
        "data": {VISION_FILE: vision_config(vision)},
    }
