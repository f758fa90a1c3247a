"""Which service a request is for, whether it may wait, and where it goes (pure).

A request reaches the activator through a stopped service's own Service, so its Host
header names that Service (`name`, `name.namespace`, `name.namespace.svc[.cluster.local]`)
or holds its ClusterIP; the routes come from the Services the operator labelled for the
activator. The clock is injected, so holding is tested without waiting.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

ROUTE_LABEL = "mlmodel.dev/wake=activator"  # the operator's label on a Service led here
ANNOTATION_POD_SELECTOR = "mlmodel.dev/pod-selector"
ANNOTATION_OWNER = "mlmodel.dev/owner"
DEFAULT_POD_PORT = 8080
WAKE_REPEAT_SECONDS = 5.0  # a wake request is recorded again if the service is still not up


@dataclass(frozen=True)
class Route:
    """A stopped service the activator answers for."""

    namespace: str
    service: str
    cluster_ip: str
    owner_plural: str
    owner_name: str
    pod_selector: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.service}"


class Ambiguous(LookupError):
    """A bare Service name that exists in several namespaces."""


def route_of(service: dict[str, Any]) -> Route | None:
    """A labelled Service as a route; None if the operator's annotations are missing."""
    meta = service.get("metadata") or {}
    notes = meta.get("annotations") or {}
    plural, _, owner = str(notes.get(ANNOTATION_OWNER, "")).partition("/")
    if not (plural and owner and notes.get(ANNOTATION_POD_SELECTOR)):
        return None
    return Route(
        namespace=meta["namespace"],
        service=meta["name"],
        cluster_ip=str((service.get("spec") or {}).get("clusterIP") or ""),
        owner_plural=plural,
        owner_name=owner,
        pod_selector=notes[ANNOTATION_POD_SELECTOR],
    )


def routes_of(services: Iterable[dict[str, Any]]) -> list[Route]:
    return [r for r in (route_of(s) for s in services) if r is not None]


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def find(host: str, routes: Iterable[Route]) -> Route | None:
    """The route a Host header names; Ambiguous for a bare name in several namespaces."""
    name = _hostname(host)
    routes = list(routes)
    try:
        ipaddress.ip_address(name)
        return next((r for r in routes if r.cluster_ip == name), None)
    except ValueError:
        pass
    service, _, rest = name.partition(".")
    namespace = rest.split(".", 1)[0] if rest else None
    matches = [r for r in routes if r.service == service and namespace in (None, r.namespace)]
    if len(matches) > 1:
        raise Ambiguous(f"{service!r} is a Service in several namespaces; call it as {service}.<namespace>")
    return matches[0] if matches else None


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return ready and bool(status.get("podIP")) and not (pod.get("metadata") or {}).get("deletionTimestamp")


def _http_port(pod: dict[str, Any]) -> int:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == "http":
                return int(port["containerPort"])
    return DEFAULT_POD_PORT


def backends(pods: Iterable[dict[str, Any]]) -> list[str]:
    """`ip:port` of every Ready, not terminating pod, in a stable order."""
    return sorted(f"{p['status']['podIP']}:{_http_port(p)}" for p in pods if _ready(p))


@dataclass
class Holds:
    """The bound on held requests and their deadlines, on an injectable clock."""

    max_held: int
    hold_seconds: float
    clock: Callable[[], float]
    held: int = 0

    def admit(self) -> float | None:
        """The deadline of a newly held request, or None: shed it (the bound is reached)."""
        if self.held >= self.max_held:
            return None
        self.held += 1
        return self.clock() + self.hold_seconds

    def release(self) -> None:
        self.held -= 1

    def left(self, deadline: float) -> float:
        return max(0.0, deadline - self.clock())


@dataclass
class Wakes:
    """When each service's wake request was last recorded: once, then again only if the
    service is still not up a while later (a lost write, an operator restart)."""

    clock: Callable[[], float]
    sent: dict[str, float]

    def due(self, key: str) -> bool:
        last = self.sent.get(key)
        return last is None or self.clock() - last >= WAKE_REPEAT_SECONDS

    def mark(self, key: str) -> None:
        self.sent[key] = self.clock()

    def forget(self, key: str) -> None:
        self.sent.pop(key, None)
