"""Prometheus metrics: requests by route and status, latency, inference time, model info.

A pure ASGI middleware keeps the per-request cost to two dictionary look-ups
and a histogram observation; the route label is the path template (so
`/v2/models/{name}/infer`, never one series per model name typed by a client).
gRPC calls count in the same families (`api/grpc_oip.py`): the route is the full
method name, the method `GRPC` and the status the gRPC code's name.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..dataplane import DataPlane
from .activity import Activity, is_inference

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The metric families of one server, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlmodel_requests",
            "Requests by route (HTTP path template or gRPC method), method and status (HTTP or gRPC code).",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlmodel_request_duration_seconds",
            "Request latency by route.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "mlmodel_inference_duration_seconds",
            "Interpreter invoke time by model.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("mlmodel_requests_in_flight", "Requests being served.", registry=self.registry)
        self.activity = Activity(self.registry)  # inference only: idle stop and autoscaling read it
        self.model_info = Gauge(
            "mlmodel_model_info",
            "Served models (value 1 when ready).",
            ["model", "version", "runtime", "kind", "num_threads", "pool_size"],
            registry=self.registry,
        )
        self.selftest_passed = Gauge(
            "mlmodel_selftest_passed",
            "Whether the model's last self-test passed (1) or not (0), by what it checked.",
            ["model", "check"],
            registry=self.registry,
        )
        self.selftest_duration = Gauge(
            "mlmodel_selftest_duration_seconds",
            "How long the model's last self-test took to answer.",
            ["model"],
            registry=self.registry,
        )
        self.selftest_time = Gauge(
            "mlmodel_selftest_timestamp_seconds",
            "When the model's last self-test ran (Unix time).",
            ["model"],
            registry=self.registry,
        )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        inference = is_inference(scope["method"])
        self.metrics.in_flight.inc()
        if inference:
            self.metrics.activity.started()
        try:
            await self.app(scope, receive, capture)
        finally:
            self.metrics.in_flight.dec()
            if inference:
                self.metrics.activity.finished()
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - start)


def router(metrics: Metrics, dataplane: DataPlane) -> APIRouter:
    api = APIRouter(tags=["metrics"])

    @api.get("/metrics", include_in_schema=False)
    async def scrape(_: Request) -> Response:
        for model in dataplane.models.values():
            metrics.model_info.labels(
                model.name,
                model.version,
                model.runtime,
                model.kind,
                str(model.config.num_threads),
                str(model.pool_size),
            ).set(1 if model.ready else 0)
        for name, result in dataplane.results.items():
            metrics.selftest_passed.labels(name, result.check).set(1 if result.passed else 0)
            metrics.selftest_duration.labels(name).set(result.seconds)
            metrics.selftest_time.labels(name).set(result.at)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return api
