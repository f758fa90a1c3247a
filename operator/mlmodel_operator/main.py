"""kopf wiring: handler registration, kopf settings and the operator entry point. No logic here."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Mapping
from typing import Any

import kopf

from mlmodel_operator import GROUP, VERSION, metrics
from mlmodel_operator.builders.common import MANAGED_BY
from mlmodel_operator.clock import system_clock
from mlmodel_operator.config import Config, effective_priority
from mlmodel_operator.events import kube_poster
from mlmodel_operator.handlers import triggers
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.k8s import login as k8s_login
from mlmodel_operator.k8s.client import Kube
from mlmodel_operator.k8s.peering import ensure_peering
from mlmodel_operator.podcache import PodCache, PodWatch, PodWatches
from mlmodel_operator.readiness import Readiness, observe_kopf_watches, watch_api
from mlmodel_operator.supervisor import Shutdown, supervise
from mlmodel_operator.workqueue import WorkQueue

OWNED = {"app.kubernetes.io/managed-by": MANAGED_BY}
# (group, version, plural): children whose watch events are stored and re-reconcile their
# owner. Pods have a watch of their own (podcache.py).
CHILDREN = (
    ("apps", "v1", "deployments"),
    ("", "v1", "services"),
    ("", "v1", "configmaps"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("discovery.k8s.io", "v1", "endpointslices"),
)
OWNERS = (
    ("modelpackages", "ModelPackage"),
    ("mlmodelservices", "MLModelService"),
    ("visionservices", "VisionService"),
)
# kopf's own API retries (watch streams, finalizers, events, peering keep-alives). Its
# default (1, 1, 2, 3, 5, 8, 13, 21) gives up after 54 s and then waits up to 21 s between
# attempts, so a watch came back up to 21 s after the apiserver did. Flat 5 s steps
# reconnect within 5 s and ride out ~2.5 minutes before kopf gives up (see supervisor.py).
KOPF_BACKOFFS = (0.5, 1.0, 2.0, 3.0, *(5.0,) * 30)


def _register_owner(registry: kopf.OperatorRegistry, rt: Runtime, plural: str, kind: str) -> None:
    """Watch events only: the handler is async and only queues work (handlers/triggers.py),
    so kopf's event loop never waits for a reconcile; the work queue resyncs each owner."""

    @kopf.on.event(GROUP, VERSION, plural, id=f"{plural}-event", registry=registry)
    async def on_event(*, event: Mapping[str, Any], **_: Any) -> None:
        triggers.owner_event(rt, kind, event.get("type"), event["object"])


def _register_child(
    registry: kopf.OperatorRegistry, rt: Runtime, group: str, version: str, plural: str
) -> None:
    resource = f"{plural}.{group}" if group else plural

    @kopf.on.event(resource, labels=OWNED, id=f"{plural}-child-event", registry=registry)
    async def on_child(*, event: Mapping[str, Any], **_: Any) -> None:
        triggers.child_event(rt, event.get("type"), event["object"])


def tune(settings: kopf.OperatorSettings, config: Config, priority: int) -> None:
    """kopf settings that make restarts and outages of the control plane uneventful."""
    # No handler needs a finalizer any more; kopf removes this one, which earlier versions
    # had it add (for their resync timers), from each object it sees.
    settings.persistence.finalizer = f"{GROUP}/kopf-finalizer"
    settings.posting.level = logging.INFO
    settings.networking.error_backoffs = KOPF_BACKOFFS
    settings.networking.connect_timeout = 10
    settings.watching.connect_timeout = 10
    settings.peering.priority = priority
    # A SIGKILLed peer is trusted for `lifetime` seconds (kopf's default: 60); the standby
    # takes over within about that long. Keep-alives go out every lifetime - (5..10) s.
    settings.peering.lifetime = config.peering_lifetime


def build_registry(rt: Runtime, priority: int = 0, shutdown: Shutdown | None = None) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        rt.resume()
        tune(settings, rt.config, priority)
        if rt.config.peering:
            ensure_peering(rt.kube, rt.config.peering, rt.config.namespaces)

    if shutdown is not None:

        @kopf.on.startup(registry=registry)
        async def signals(**_: Any) -> None:
            shutdown.install()  # async: it needs kopf's event loop

    @kopf.on.login(registry=registry)
    def login(settings: kopf.OperatorSettings, **kwargs: Any) -> Any:
        # A custom registry starts empty, so a login handler is registered explicitly; it
        # hands kopf the configuration the operator's client loaded (k8s/login.py).
        return k8s_login.login(rt.kube.config, settings, **kwargs)

    for plural, kind in OWNERS:
        _register_owner(registry, rt, plural, kind)
    for group, version, plural in CHILDREN:
        _register_child(registry, rt, group, version, plural)
    return registry


def build_runtime(config: Config) -> Runtime:
    """The runtime with its work queue; the workers start with kopf (the startup handler)."""
    clock = system_clock(config.clock_offset_seconds, config.clock_offset_file)
    kube = Kube.from_environment(pool_size=config.workers + 4)
    rt = Runtime(config=config, kube=kube, clock=clock, post=kube_poster(kube))
    rt.queue = WorkQueue(
        functools.partial(triggers.handle, rt), workers=config.workers, max_backoff=config.resync_seconds
    )
    scopes = config.namespaces or (None,)
    rt.pods = PodCache(scopes)
    changed = functools.partial(triggers.pods_changed, rt)
    rt.pod_watches = PodWatches([PodWatch(kube, rt.pods, scope, changed) for scope in scopes])
    return rt


def watch_readiness(rt: Runtime) -> Readiness:
    """What /readyz reports: kopf's watch streams, and the API server asked every few seconds."""
    readiness = Readiness(rt.clock, rt.config.api_down_seconds, rt.kube.server)
    observe_kopf_watches(readiness)
    args = (rt.kube, readiness, threading.Event())
    threading.Thread(target=watch_api, args=args, name="api-check", daemon=True).start()
    return readiness


def run(config: Config) -> None:
    """Block running the operator until SIGINT/SIGTERM; kopf is restarted if it fails."""
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config.log_level != "DEBUG":
        # kopf logs every handler success per object; keep warnings and errors only.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    priority = effective_priority(config.priority)
    if config.peering:
        logging.getLogger("mlmodel_operator").info(
            "peering %r with priority %d (configured %d)", config.peering, priority, config.priority
        )
    rt = build_runtime(config)
    readiness = watch_readiness(rt)
    rt.paused = readiness.paused
    if config.metrics_port:
        metrics.serve(config.liveness_host, config.metrics_port, lambda: len(rt.queue), readiness.reason)
    shutdown = Shutdown(rt.stop)
    registry = build_registry(rt, priority, shutdown)
    run_once = functools.partial(
        kopf.run,
        registry=registry,
        standalone=config.peering is None,
        peering_name=config.peering,
        priority=priority,
        liveness_endpoint=config.liveness_endpoint,
        clusterwide=not config.namespaces,
        namespaces=list(config.namespaces),
    )
    supervise(lambda: run_once(stop_flag=shutdown.arm()), stopping=shutdown.requested, server=rt.kube.server)
