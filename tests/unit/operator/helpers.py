"""Small factories for operator unit tests (plain dicts, as the API server returns them)."""

from __future__ import annotations

from typing import Any

from mlmodel_operator.builders.pod import ServingInputs
from mlmodel_operator.config import Termination
from mlmodel_operator.packages import ResolvedPackage

SHA_A = "a" * 64
SHA_B = "b" * 64
DEFAULT_TERMINATION = Termination()


def owner(kind: str = "MLModelService", name: str = "fruit", **spec: Any) -> dict[str, Any]:
    base = {
        "attributes": {
            "model_path": "${packages.fruit_classifier}/fruit_classifier.tflite",
            "label_path": "${packages.fruit_classifier}/labels.txt",
            "num_threads": 2,
        },
        "packages": [{"name": "fruit_classifier", "package": "fruit", "version": "latest"}],
        "replicas": 1,
    }
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "ns", "uid": "uid-1", "generation": 1},
        "spec": {**base, **spec},
    }


def url_pkg(version: str = "1.0.0", sha: str = SHA_A, name: str = "fruit_classifier") -> ResolvedPackage:
    return ResolvedPackage(
        name=name,
        package="fruit",
        requested="latest",
        version=version,
        sha256=sha,
        source={"url": "https://x/fruit.tar.gz"},
    )


def inputs(
    own: dict[str, Any] | None = None,
    packages: tuple[ResolvedPackage, ...] = (),
    component: str = "mlmodel",
    vision_config: str | None = None,
    termination: Termination = DEFAULT_TERMINATION,
) -> ServingInputs:
    own = own or owner()
    return ServingInputs(
        owner=own,
        component=component,
        model_name="fruit",
        attributes=owner()["spec"]["attributes"],
        packages=packages or (url_pkg(),),
        image="img:1",
        vision_config=vision_config,
        termination=termination,
    )


def pod(
    hash_: str, *, init: list[dict[str, Any]] | None = None, containers: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"annotations": {"mlmodel.dev/template-hash": hash_}},
        "status": {"initContainerStatuses": init or [], "containerStatuses": containers or []},
    }


def deployment(
    *,
    replicas: int = 1,
    available: int = 1,
    updated: int = 1,
    total: int = 1,
    generation: int = 1,
    observed: int = 1,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "replicas": total,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "readyReplicas": available,
            "conditions": conditions or [],
        },
    }
