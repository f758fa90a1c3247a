"""Operator settings, read once from the environment into one frozen object.

Every knob lives here so the Deployment manifest, the CLI and the tests agree
on names and defaults; nothing else in the operator reads `os.environ`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

DEFAULT_IMAGE = "mlmodel-operator:0.1.0"  # the chart and install.yaml set their image explicitly
# kopf peering: one configured priority step is worth this many tie-breaker values.
PRIORITY_SPREAD = 1 << 16
DEFAULT_POD_METRICS_URL = "http://{ip}:8080/metrics"
# Seconds of an inference pod's grace period left to `mlmodel serve` to exit after it gave up
# waiting for requests in flight (cancelling them, closing the interpreters).
EXIT_MARGIN = 5


class ConfigError(ValueError):
    """A malformed environment variable; reported as one line by the CLI."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc
    if value < minimum:
        raise ConfigError(f"{name}={value} must be >= {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean")


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in env.get(name, "").split(",") if p.strip())


@dataclass(frozen=True)
class Termination:
    """How an inference pod stops without dropping requests (docs/operator.md#pods).

    Kubernetes takes a terminating pod out of its Service's endpoints at once, but every
    node's kube-proxy follows a moment later, and until then new connections still arrive.
    So the kubelet first sleeps `prestop_seconds` (the native preStop sleep, no shell
    needed), then sends SIGTERM; the server closes its port and finishes the requests in
    flight. The grace period counts from the start of preStop, and the kubelet SIGKILLs at
    its end, so the server's shutdown timeout is what is left of it.
    """

    prestop_seconds: int = 5
    grace_seconds: int = 30  # the pod's terminationGracePeriodSeconds

    @property
    def shutdown_timeout(self) -> int:
        """`mlmodel serve --shutdown-timeout`: the grace left after preStop and the exit margin."""
        return self.grace_seconds - self.prestop_seconds - EXIT_MARGIN


def _termination(env: Mapping[str, str], prefix: str) -> Termination:
    prestop = _int(env, prefix + "PRESTOP_SECONDS", Termination.prestop_seconds, minimum=1)
    least = prestop + EXIT_MARGIN + 1
    grace = _int(env, prefix + "TERMINATION_GRACE_SECONDS", Termination.grace_seconds)
    if grace < least:
        raise ConfigError(
            f"{prefix}TERMINATION_GRACE_SECONDS={grace} must be >= {least} "
            f"({prefix}PRESTOP_SECONDS, then at least 1 s for requests in flight and {EXIT_MARGIN} s to exit)"
        )
    return Termination(prestop, grace)


@dataclass(frozen=True)
class ServiceRef:
    """A Service named across namespaces: the routing target must be unambiguous."""

    namespace: str
    name: str


def _service_ref(env: Mapping[str, str], name: str) -> ServiceRef | None:
    """`namespace/name`, split once here so no reader parses it again; empty: None."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    namespace, _, service = raw.partition("/")
    if not namespace or not service or "/" in service:
        raise ConfigError(f"{name}={raw!r}: expected namespace/name")
    return ServiceRef(namespace, service)


@dataclass(frozen=True)
class Config:
    """All operator settings. `from_env` is the only constructor production uses."""

    image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    namespaces: tuple[str, ...] = ()  # empty: the whole cluster
    peering: str | None = None  # None: standalone, no leader election
    priority: int = 0  # the configured priority; see effective_priority()
    peering_lifetime: int = 15  # seconds a silent peer is still believed alive
    liveness_host: str = "0.0.0.0"
    liveness_port: int = 8081  # 0 disables the endpoint
    metrics_port: int = 8082  # Prometheus /metrics and /readyz; 0 disables them
    api_down_seconds: float = 30.0  # /readyz fails once the API server has not answered this long
    resync_seconds: float = 60.0
    workers: int = 8  # reconcile threads (the work queue's); the API server is the limit
    verify_urls: bool = True
    verify_max_bytes: int = 64 << 20
    verify_timeout: float = 10.0
    fetch_max_bytes: int = 2 << 30
    termination: Termination = Termination()  # inference pods' preStop and grace period
    # Where a canary's gates read a pod's metrics ({ip}, {namespace}, {name}); tests point it
    # at a fake, since kwok's pods have no address.
    pod_metrics_url: str = DEFAULT_POD_METRICS_URL
    pod_metrics_timeout: float = 3.0
    activator_service: ServiceRef | None = None  # the shared activator; None: no waking
    clock_offset_seconds: float = 0.0
    clock_offset_file: str | None = None  # tests move time by rewriting this file
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Parse `MLMODEL_OPERATOR_*`; unset or empty variables keep the defaults."""
        e = os.environ if env is None else env
        p = "MLMODEL_OPERATOR_"
        peering = e.get(p + "PEERING", "").strip()
        return cls(
            image=e.get(p + "IMAGE", "").strip() or DEFAULT_IMAGE,
            image_pull_policy=e.get(p + "IMAGE_PULL_POLICY", "").strip() or "IfNotPresent",
            namespaces=_list(e, p + "NAMESPACES"),
            peering=None if peering in ("", "standalone") else peering,
            priority=_int(e, p + "PRIORITY", 0),
            peering_lifetime=_int(e, p + "PEERING_LIFETIME", 15, minimum=10),
            liveness_port=_int(e, p + "LIVENESS_PORT", 8081),
            metrics_port=_int(e, p + "METRICS_PORT", 8082),
            api_down_seconds=max(1.0, _float(e, p + "API_DOWN_SECONDS", 30.0)),
            resync_seconds=max(1.0, _float(e, p + "RESYNC_SECONDS", 60.0)),
            workers=_int(e, p + "WORKERS", 8, minimum=1),
            verify_urls=_bool(e, p + "VERIFY_URLS", True),
            verify_max_bytes=_int(e, p + "VERIFY_MAX_BYTES", 64 << 20),
            verify_timeout=_float(e, p + "VERIFY_TIMEOUT", 10.0),
            fetch_max_bytes=_int(e, p + "FETCH_MAX_BYTES", 2 << 30, minimum=1),
            termination=_termination(e, p),
            pod_metrics_url=e.get(p + "POD_METRICS_URL", "").strip() or DEFAULT_POD_METRICS_URL,
            pod_metrics_timeout=_float(e, p + "POD_METRICS_TIMEOUT", 3.0),
            activator_service=_service_ref(e, p + "ACTIVATOR_SERVICE"),
            clock_offset_seconds=_float(e, p + "CLOCK_OFFSET", 0.0),
            clock_offset_file=e.get(p + "CLOCK_OFFSET_FILE", "").strip() or None,
            log_level=(e.get(p + "LOG_LEVEL", "").strip() or "INFO").upper(),
        )

    def with_overrides(self, **changes: object) -> Config:
        """CLI flags win over the environment; `None` means 'flag not given'."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @property
    def liveness_endpoint(self) -> str | None:
        if self.liveness_port == 0:
            return None
        return f"http://{self.liveness_host}:{self.liveness_port}/healthz"


def effective_priority(configured: int, draw: Callable[[int], int] = secrets.randbelow) -> int:
    """The kopf peering priority: the configured one, then a random tie-breaker below it.

    kopf pauses *every* peer when two of the same priority are alive, so replicas of one
    Deployment (which share MLMODEL_OPERATOR_PRIORITY, 0 unless set) would all stand by
    forever. Each process draws a tie-breaker at start-up instead: a higher configured
    priority still always wins, and among equals exactly one is active. Random rather
    than a hash of the pod name, so that an unlucky tie is not repeated on restart.
    """
    return configured * PRIORITY_SPREAD + draw(PRIORITY_SPREAD)
