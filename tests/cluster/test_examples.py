"""manifests/examples/ double as end-to-end tests: applied as a user would, they all serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from operator_fixtures import Objects, OperatorProcess

from localcluster import LocalCluster

EXAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "examples"
SERVICES = {
    "MLModelService": [
        "fruit-classifier",
        "fruit-classifier-pinned",
        "fruit-classifier-demo",
        "colour-detector",
    ],
    "VisionService": ["fruit-classifier", "red-and-blue"],
}


def resolved_version(objs: Objects, name: str) -> str:
    [package] = objs.status("MLModelService", name)["resolvedPackages"]
    return str(package["version"])


def test_every_example_becomes_running(
    local_cluster: LocalCluster, kube: Any, namespace: str, mlmodel_operator: OperatorProcess
) -> None:
    local_cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(EXAMPLES))
    objs = Objects(kube, namespace, mlmodel_operator)
    for kind, names in SERVICES.items():
        for name in names:
            objs.wait_phase(kind, name, "Running", timeout=90)
            assert objs.condition(kind, name, "Ready")["status"] == "True"
    assert resolved_version(objs, "fruit-classifier") == "2024-09-03T10-00-00"
    assert resolved_version(objs, "fruit-classifier-pinned") == "2024-08-01T09-00-00"
    assert objs.status("MLModelService", "fruit-classifier-demo").get("autoStopDueTime")
    package = objs.status("ModelPackage", "fruit-classifier")
    assert package["latestVersion"] == "2024-09-03T10-00-00"
    assert all(v["reason"] == "Verified" for v in package["versions"])
