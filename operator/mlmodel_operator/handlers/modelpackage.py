"""ModelPackage: verify what can be verified and publish `latestVersion`."""

from __future__ import annotations

from typing import Any

from mlmodel_operator import API_VERSION, verify
from mlmodel_operator.clock import format_time
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.handlers.writer import write_status
from mlmodel_operator.k8s.client import object_path
from mlmodel_operator.status import package_status as ps
from mlmodel_operator.status.conditions import stamp


def _check_all(rt: Runtime, package: dict[str, Any]) -> list[dict[str, Any]]:
    namespace = package["metadata"]["namespace"]
    previous = {e.get("version"): e for e in (package.get("status") or {}).get("versions") or []}

    def read_configmap(name: str) -> dict[str, Any] | None:
        return rt.kube.get(object_path("v1", "ConfigMap", namespace, name))

    return [
        verify.check_version(
            version,
            read_configmap,
            verify_urls=rt.config.verify_urls,
            max_bytes=rt.config.verify_max_bytes,
            timeout=rt.config.verify_timeout,
            previous=previous.get(version["version"]),
        )
        for version in (package.get("spec") or {}).get("versions") or []
    ]


def reconcile_package(rt: Runtime, namespace: str, name: str) -> bool:
    """Check every version, then write status if anything changed; True if written."""
    package = rt.read(API_VERSION, "ModelPackage", namespace, name)
    if package is None or package["metadata"].get("deletionTimestamp"):
        return False
    spec, old = package.get("spec") or {}, package.get("status") or {}
    entries = _check_all(rt, package)
    now, generation = format_time(rt.clock()), package["metadata"].get("generation", 0)
    conds = [ps.verified_condition(entries), ps.ready_condition(spec, entries)]
    status = {
        **ps.package_status(spec, entries),
        "observedGeneration": generation,
        "conditions": [stamp(c, generation, now, old.get("conditions") or []) for c in conds],
    }
    return write_status(rt, package, old, status)
