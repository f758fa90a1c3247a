"""The CRDs on the real apiserver: examples apply, bad specs are refused naming the field.

No operator runs here: validation is the API server's job (OpenAPI schema and CEL),
so nothing invalid ever reaches the operator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster import ClusterError, LocalCluster

pytestmark = pytest.mark.cluster
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "manifests" / "examples").glob("*.yaml"))
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def dry_run(cluster: LocalCluster, namespace: str, obj: dict[str, Any]) -> str:
    """Server-side dry run; returns the error text ('' if accepted)."""
    try:
        cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))
    except ClusterError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_apply_cleanly(
    mlmodel_crds: LocalCluster,
    namespace: str,
    path: Path,
) -> None:
    out = mlmodel_crds.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path))
    assert "created (server dry run)" in out


def mp(*versions: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "ModelPackage",
        "metadata": {"name": "p"},
        "spec": {"versions": list(versions)},
    }


def mlms(name: str = "svc", **spec: Any) -> dict[str, Any]:
    base = {
        "attributes": {"model_path": "${packages.fruit}/m.tflite"},
        "packages": [{"name": "fruit", "package": "fruit"}],
    }
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "MLModelService",
        "metadata": {"name": name},
        "spec": {**base, **spec},
    }


def vis(**attrs: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "VisionService",
        "metadata": {"name": "v"},
        "spec": {"mlmodelName": "svc", "attributes": attrs},
    }


URL = {"url": "https://models.example.com/m.tflite"}
CASES = {
    "url-needs-sha256": (
        mp({"version": "1", "source": URL}),
        "spec.versions[0].sha256: Required value: sha256 is required",
    ),
    "url-scheme": (
        mp({"version": "1", "sha256": SHA, "source": {"url": "ftp://x/m.tflite"}}),
        "spec.versions[0].source.url",
    ),
    "url-extension": (
        mp({"version": "1", "sha256": SHA, "source": {"url": "https://x/m.exe"}}),
        ".tflite, .tar.gz or .zip",
    ),
    "two-sources": (
        mp({"version": "1", "sha256": SHA, "source": {**URL, "configMap": {"name": "c", "key": "k"}}}),
        "spec.versions[0].source: Invalid value: exactly one of",
    ),
    "no-source": (mp({"version": "1", "source": {}}), "exactly one of"),
    "bad-sha": (mp({"version": "1", "sha256": "xyz", "source": URL}), "spec.versions[0].sha256"),
    "two-latest": (
        mp(
            {"version": "1", "latest": True, "source": URL, "sha256": SHA},
            {"version": "2", "latest": True, "source": URL, "sha256": SHA},
        ),
        "at most one version may be marked latest",
    ),
    "duplicate-version": (
        mp({"version": "1", "source": URL, "sha256": SHA}, {"version": "1", "source": URL, "sha256": SHA}),
        "spec.versions[1]: Duplicate value",
    ),
    "pvc-traversal": (
        mp({"version": "1", "source": {"persistentVolumeClaim": {"claimName": "c", "path": "a/../../etc"}}}),
        "spec.versions[0].source.persistentVolumeClaim.path",
    ),
    "num-threads": (
        mlms(attributes={"model_path": "/m.tflite", "num_threads": 0}),
        "spec.attributes.num_threads",
    ),
    "model-enum": (mlms(model="onnx_gpu"), "spec.model: Unsupported value"),
    "unknown-package": (
        mlms(attributes={"model_path": "${packages.other}/m.tflite"}),
        "spec.attributes.model_path: Invalid value: attributes.model_path refers to a package",
    ),
    "auto-stop-short": (mlms(autoStop="30s"), "spec.autoStop"),
    "auto-stop-long": (mlms(autoStop="8d"), "between 1m and 7d"),
    "auto-stop-garbage": (mlms(autoStop="soon"), "spec.autoStop"),
    "restarted-at": (mlms(restartedAt="yesterday"), "spec.restartedAt"),
    "replicas": (mlms(replicas=0), "spec.replicas"),
    "batch-size-one": (mlms(batching={"maxBatchSize": 1}), "spec.batching.maxBatchSize"),
    "batch-delay-long": (
        mlms(batching={"maxBatchSize": 8, "maxBatchDelayMs": 5000}),
        "spec.batching.maxBatchDelayMs",
    ),
    "batch-without-size": (
        mlms(batching={"maxBatchDelayMs": 1}),
        "spec.batching.maxBatchSize: Required value",
    ),
    "name": (mlms(name="9lives"), "metadata.name must be a DNS-1035 label"),
    "unknown-field": (mlms(num_thread=2), 'unknown field "spec.num_thread"'),
    "confidence": (vis(default_minimum_confidence=1.5), "spec.attributes.default_minimum_confidence"),
    "label-confidence": (vis(label_confidences={"cat": -1}), "spec.attributes.label_confidences.cat"),
    "box-order": (
        vis(xmin_ymin_xmax_ymax_order=[0, 0, 1, 2]),
        "spec.attributes.xmin_ymin_xmax_ymax_order: Invalid value: must be 4 unique",
    ),
    "box-order-range": (
        vis(xmin_ymin_xmax_ymax_order=[0, 1, 2, 4]),
        "spec.attributes.xmin_ymin_xmax_ymax_order[3]",
    ),
    "std-zero": (
        vis(input_image_std_dev=[1, 0, 1]),
        "spec.attributes.input_image_std_dev: Invalid value: values must not be 0",
    ),
    "mean-short": (vis(input_image_mean_value=[0.5, 0.5]), "spec.attributes.input_image_mean_value"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_specs_are_refused_naming_the_field(
    mlmodel_crds: LocalCluster,
    namespace: str,
    case: str,
) -> None:
    obj, expected = CASES[case]
    error = dry_run(mlmodel_crds, namespace, obj)
    assert expected in error, error


def test_defaults_come_from_the_schema(
    mlmodel_crds: LocalCluster,
    namespace: str,
) -> None:
    out = mlmodel_crds.kubectl(
        "apply", "--dry-run=server", "-o", "yaml", "-n", namespace, "-f", "-", input=yaml.safe_dump(mlms())
    )
    spec = yaml.safe_load(out)["spec"]
    assert spec["model"] == "tflite_cpu" and spec["replicas"] == 1
    assert spec["attributes"]["num_threads"] == 1
    assert spec["packages"][0]["version"] == "latest"
    assert spec["serviceType"] == "ClusterIP"
