"""What a serving owner should run: resolution of its packages (reads ModelPackages,
and for a VisionService its MLModelService), turned into builder inputs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlmodel_operator import API_VERSION, preflight
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.packages import Resolution, resolve
from mlmodel_operator.status.conditions import FALSE, TRUE, Cond

_MODEL_PACKAGE = re.compile(r"\$\{packages\.(?:ml_model\.)?([^}]*)\}")


@dataclass(frozen=True)
class Plan:
    """Resolution now, the pins to deploy, and where model settings come from."""

    resolution: Resolution
    effective: Resolution | None
    model_service: dict[str, Any] | None  # the MLModelService holding attributes
    extra: tuple[Cond, ...] = ()

    @property
    def attributes(self) -> dict[str, Any]:
        return dict(((self.model_service or {}).get("spec") or {}).get("attributes") or {})

    @property
    def model_package(self) -> str | None:
        match = _MODEL_PACKAGE.search(self.attributes.get("model_path", ""))
        return match.group(1) if match else None


def _packages(rt: Runtime, namespace: str, refs: list[dict[str, Any]]) -> dict[str, Any]:
    names = {r["package"] for r in refs}
    return {n: rt.read(API_VERSION, "ModelPackage", namespace, n) for n in names}


def _pinned(rt: Runtime, namespace: str, pins: list[dict[str, Any]]) -> Resolution:
    refs = [{"name": p["name"], "package": p["package"], "version": p["version"]} for p in pins]
    return resolve(refs, _packages(rt, namespace, refs))


def _fallback(rt: Runtime, owner: dict[str, Any], resolution: Resolution) -> Resolution | None:
    """A failed resolution keeps the last good pins deployed (never the bad version)."""
    if resolution.ok:
        return resolution
    pins = (owner.get("status") or {}).get("resolvedPackages") or []
    if not pins:
        return None
    previous = _pinned(rt, owner["metadata"]["namespace"], pins)
    return previous if previous.ok else None


def plan_mlmodel(rt: Runtime, owner: dict[str, Any]) -> Plan:
    """The versions the spec asks for, refused if their files cannot serve its attributes."""
    spec = owner.get("spec") or {}
    refs = list(spec.get("packages") or [])
    resolution = resolve(refs, _packages(rt, owner["metadata"]["namespace"], refs))
    resolution = preflight.check(resolution, spec.get("attributes") or {})
    return Plan(resolution, _fallback(rt, owner, resolution), owner)


def _model_service_ready(service: dict[str, Any] | None, name: str) -> Cond:
    if service is None:
        return Cond(
            "MLModelServiceReady", FALSE, "MLModelServiceNotFound", f"MLModelService {name!r} not found"
        )
    ready: dict[str, Any] = next(
        (c for c in (service.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    if ready.get("status") == TRUE:
        return Cond("MLModelServiceReady", TRUE, "MLModelServiceReady", f"{name} is Ready")
    why = ready.get("message") or "not reconciled yet"
    return Cond("MLModelServiceReady", FALSE, "MLModelServiceNotReady", f"{name}: {why}")


def plan_vision(rt: Runtime, owner: dict[str, Any]) -> Plan:
    """Vision loads the model in-process, pinned to what its MLModelService resolved."""
    namespace, name = owner["metadata"]["namespace"], owner["spec"]["mlmodelName"]
    service = rt.read(API_VERSION, "MLModelService", namespace, name)
    extra = (_model_service_ready(service, name),)
    pins = ((service or {}).get("status") or {}).get("resolvedPackages") or []
    if service is None:
        resolution = Resolution(reason="MLModelServiceNotFound", message=extra[0].message)
    elif not pins:
        resolution = Resolution(
            reason="MLModelServiceNotResolved",
            message=f"MLModelService {name!r} has not resolved its packages",
        )
    else:
        resolution = _pinned(rt, namespace, pins)
    effective = _fallback(rt, owner, resolution) if service is not None else None
    return Plan(resolution, effective, service, extra)
