"""Inference activity: when the last inference request was seen, and how many are in flight.

Why apart from `mlmodel_requests_in_flight`: that gauge counts every request, the kubelet's
probes and the very scrape that reads it included, so an idle pod never reads 0 and one busy
with a probe looks like one in traffic. The operator's idle stop and an autoscaler's
requests-in-flight target need inference alone: an HTTP POST (every model endpoint: OIP
infer, MLflow invocations, vision) or a gRPC ModelInfer. Probes, metadata and scrapes are
GETs or other RPCs, so they never keep a service awake or make it scale.

The timestamp is Unix time by the pod's clock, set when an inference request arrives and
again when it is answered, so a long request keeps the service busy while it runs.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

LAST_REQUEST = "mlmodel_last_request_timestamp_seconds"
IN_FLIGHT = "mlmodel_inference_requests_in_flight"
INFERENCE_RPCS = frozenset({"ModelInfer"})


def is_inference(method: str) -> bool:
    """An HTTP method or a gRPC method name that runs the model."""
    return method == "POST" or method in INFERENCE_RPCS


class Activity:
    """The two gauges, in the server's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.last = Gauge(
            LAST_REQUEST,
            "When the last inference request arrived or was answered (Unix time; 0: none yet).",
            registry=registry,
        )
        self.in_flight = Gauge(
            IN_FLIGHT, "Inference requests being served (probes and scrapes excluded).", registry=registry
        )

    def started(self) -> None:
        self.in_flight.inc()
        self.last.set_to_current_time()

    def finished(self) -> None:
        self.in_flight.dec()
        self.last.set_to_current_time()
