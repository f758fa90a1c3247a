"""The operator's Prometheus metrics, named after controller-runtime's.

Why: "is the operator keeping up?" is answered by the reconcile rate, its errors and
latency, and the work queue's depth, the same series a controller-runtime operator
exports (`controller_runtime_reconcile_total`, `workqueue_depth`), here with our prefix.
They have their own registry and port (`MLMODEL_OPERATOR_METRICS_PORT`), apart from
kopf's liveness endpoint; the same port answers the readiness probe (`/readyz`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

log = logging.getLogger("mlmodel_operator.metrics")
REGISTRY = CollectorRegistry()
RECONCILES = Counter(
    "mlmodel_operator_reconcile",
    "Reconcile passes by kind and result (success, error).",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "mlmodel_operator_reconcile_duration_seconds",
    "Time of one reconcile pass, by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "mlmodel_operator_api_requests",
    "Requests the reconciles sent to the API server, by method and HTTP status (error: none).",
    ["method", "code"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "mlmodel_operator_workqueue_depth",
    "Keys waiting, delayed or being reconciled.",
    registry=REGISTRY,
)


@contextmanager
def reconcile_pass(kind: str) -> Iterator[None]:
    """Count and time one pass; an exception counts as an error and propagates."""
    started, result = time.perf_counter(), "error"
    try:
        yield
        result = "success"
    finally:
        RECONCILES.labels(kind, result).inc()
        RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - started)


def serve(host: str, port: int, queue_depth: Callable[[], float], unready: Callable[[], str | None]) -> None:
    """Start /metrics and /readyz (a daemon thread); a busy port is logged, not fatal."""
    QUEUE_DEPTH.set_function(queue_depth)
    try:
        server = make_server(host, port, app(unready), _Server, handler_class=_QuietHandler)
    except OSError as exc:
        log.error("metrics endpoint on %s:%d not started: %s", host, port, exc)
        return
    Thread(target=server.serve_forever, name="metrics", daemon=True).start()


def app(unready: Callable[[], str | None]) -> Callable[..., Any]:
    """WSGI: `/readyz` answers 200 `ok`, or 503 with the reason (readiness.py); any other
    path is Prometheus' exposition, as prometheus_client serves it."""
    metrics = make_wsgi_app(REGISTRY)

    def route(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != "/readyz":
            return metrics(environ, start_response)
        reason = unready()
        body = b"ok\n" if reason is None else f"{reason}\n".encode()
        status = "200 OK" if reason is None else "503 Service Unavailable"
        start_response(
            status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return route


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access log: the kubelet probes every few seconds."""

    def log_message(self, format: str, *args: Any) -> None:
        pass
