"""kopf wiring: handler registration and the operator entry point. No logic here."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from mlmodel_operator import GROUP, VERSION
from mlmodel_operator.builders.common import MANAGED_BY
from mlmodel_operator.clock import system_clock
from mlmodel_operator.config import Config
from mlmodel_operator.events import kopf_poster
from mlmodel_operator.handlers import triggers
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.k8s.client import Kube

OWNED = {"app.kubernetes.io/managed-by": MANAGED_BY}
CHILDREN = (
    ("apps", "v1", "deployments"),
    ("", "v1", "services"),
    ("", "v1", "configmaps"),
    ("", "v1", "pods"),
)
OWNERS = (
    ("modelpackages", triggers.package_changed),
    ("mlmodelservices", triggers.model_service_changed),
    ("visionservices", triggers.vision_changed),
)


def _register_owner(registry: kopf.OperatorRegistry, rt: Runtime, plural: str, changed: Any) -> None:
    """Watch events and a resync timer (auto-stop deadlines, periodic drift check)."""

    @kopf.on.event(GROUP, VERSION, plural, id=f"{plural}-event", registry=registry)
    def on_event(*, type: str, name: str, namespace: str | None, **_: Any) -> None:
        if type != "DELETED" and namespace:
            changed(rt, namespace, name)

    @kopf.timer(
        GROUP, VERSION, plural, id=f"{plural}-resync", interval=rt.config.resync_seconds, registry=registry
    )
    def on_timer(*, name: str, namespace: str | None, **_: Any) -> None:
        if namespace:
            changed(rt, namespace, name)


def _register_child(
    registry: kopf.OperatorRegistry, rt: Runtime, group: str, version: str, plural: str
) -> None:
    resource = f"{plural}.{group}" if group else plural

    @kopf.on.event(resource, labels=OWNED, id=f"{plural}-child-event", registry=registry)
    def on_child(*, namespace: str | None, labels: Mapping[str, str], **_: Any) -> None:
        if namespace:
            triggers.child_changed(rt, namespace, dict(labels))


def build_registry(rt: Runtime) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = f"{GROUP}/kopf-finalizer"
        settings.posting.level = logging.INFO
        settings.peering.priority = rt.config.priority

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        # A custom registry starts empty, so kopf's default login is registered explicitly.
        return kopf.login_via_client(**kwargs)

    for plural, changed in OWNERS:
        _register_owner(registry, rt, plural, changed)
    for group, version, plural in CHILDREN:
        _register_child(registry, rt, group, version, plural)
    return registry


def build_runtime(config: Config) -> Runtime:
    clock = system_clock(config.clock_offset_seconds, config.clock_offset_file)
    return Runtime(config=config, kube=Kube.from_environment(), clock=clock, post=kopf_poster)


def run(config: Config) -> None:
    """Block running the operator until SIGINT/SIGTERM."""
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config.log_level != "DEBUG":
        # kopf logs every handler success per object; keep warnings and errors only.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    registry = build_registry(build_runtime(config))
    kopf.run(
        registry=registry,
        standalone=config.peering is None,
        peering_name=config.peering,
        priority=config.priority,
        liveness_endpoint=config.liveness_endpoint,
        clusterwide=not config.namespaces,
        namespaces=list(config.namespaces),
    )
