"""The Open Inference Protocol over gRPC: `inference.GRPCInferenceService` on the dataplane.

The servicer only decodes (`codecs/oip_grpc.py`), calls the dataplane and encodes, as the
REST routes do, so both protocols answer from the same steps. Every call passes one
wrapper that does what the HTTP middlewares do for REST: the bearer token (from the
`authorization` metadata, as tritonclient's `headers=` sends it), the Prometheus metrics,
and the one mapping of domain errors to gRPC status codes (`GRPC_CODE`). The message size
limit is grpcio's own (`server.py` sets it to --max-body-bytes), which refuses an oversize
request with RESOURCE_EXHAUSTED before any of this runs.

The handlers are registered by hand rather than from protoc's service stubs: a table of
seven entries, and no generated module that pins the grpcio it was made with.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from ..codecs.oip_grpc import decode_request, encode_response
from ..dataplane import DataPlane
from ..errors import (
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    PayloadTooLarge,
    ServingError,
    UnsupportedMediaType,
)
from ..proto import grpc_predict_v2_pb2 as pb
from .activity import is_inference
from .auth import TokenFile, bearer_matches
from .metrics import Metrics

SERVICE = "inference.GRPCInferenceService"
METHOD_LABEL = "GRPC"  # the metrics' method label of every gRPC call
OPEN_METHODS = frozenset({"ServerLive", "ServerReady"})  # health, open as /v2/health/* is
GRPC_CODE: dict[type[ServingError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    ModelNotFound: grpc.StatusCode.NOT_FOUND,
    PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    UnsupportedMediaType: grpc.StatusCode.INVALID_ARGUMENT,
    ModelNotReady: grpc.StatusCode.UNAVAILABLE,
}

log = logging.getLogger("mlmodel.grpc")
Handler = Callable[[Any], Awaitable[Any]]


def grpc_code(exc: ServingError) -> grpc.StatusCode:
    """The code of a domain error, by its nearest class in GRPC_CODE."""
    for cls in type(exc).__mro__:
        if cls in GRPC_CODE:
            return GRPC_CODE[cls]
    return grpc.StatusCode.INTERNAL


class InferenceService:
    """The RPCs, each a dataplane call between decoding and encoding."""

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    async def ServerLive(self, _: pb.ServerLiveRequest) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, _: pb.ServerReadyRequest) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.dataplane.ready)

    async def ModelReady(self, request: pb.ModelReadyRequest) -> pb.ModelReadyResponse:
        model = self.dataplane.model(request.name, request.version or None, need_ready=False)
        return pb.ModelReadyResponse(ready=self.dataplane.model_ready(model))

    async def ServerMetadata(self, _: pb.ServerMetadataRequest) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(**self.dataplane.server_metadata())

    async def ModelMetadata(self, request: pb.ModelMetadataRequest) -> pb.ModelMetadataResponse:
        return pb.ModelMetadataResponse(
            **self.dataplane.model_metadata(request.name, request.version or None)
        )

    async def ModelInfer(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        model = self.dataplane.model(request.model_name, request.model_version or None)
        decoded = decode_request(request)
        outputs = await self.dataplane.infer(model, decoded)
        return encode_response(model.name, model.version, decoded, outputs)

    async def ModelStatistics(self, request: pb.ModelStatisticsRequest) -> pb.ModelStatisticsResponse:
        stats = self.dataplane.model_statistics(request.name or None, request.version or None)
        return pb.ModelStatisticsResponse(**stats)


METHODS: dict[str, tuple[Any, Any]] = {
    "ServerLive": (pb.ServerLiveRequest, pb.ServerLiveResponse),
    "ServerReady": (pb.ServerReadyRequest, pb.ServerReadyResponse),
    "ModelReady": (pb.ModelReadyRequest, pb.ModelReadyResponse),
    "ServerMetadata": (pb.ServerMetadataRequest, pb.ServerMetadataResponse),
    "ModelMetadata": (pb.ModelMetadataRequest, pb.ModelMetadataResponse),
    "ModelInfer": (pb.ModelInferRequest, pb.ModelInferResponse),
    "ModelStatistics": (pb.ModelStatisticsRequest, pb.ModelStatisticsResponse),
}


class Calls:
    """The wrapper around every RPC: auth, metrics, errors."""

    def __init__(self, metrics: Metrics, token: str | TokenFile | None) -> None:
        self.metrics = metrics
        self.token = token

    def wrap(self, method: str, handler: Handler) -> Callable[[Any, aio.ServicerContext], Awaitable[Any]]:
        route = f"/{SERVICE}/{method}"
        needs_token = self.token is not None and method not in OPEN_METHODS
        activity = self.metrics.activity if is_inference(method) else None

        async def call(request: Any, context: aio.ServicerContext) -> Any:
            start = time.perf_counter()
            code, message = grpc.StatusCode.OK, ""
            self.metrics.in_flight.inc()
            if activity:
                activity.started()
            try:
                if needs_token and not self._authorised(context):
                    code, message = grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token"
                else:
                    return await handler(request)
            except ServingError as exc:
                code, message = grpc_code(exc), exc.message
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception:
                log.exception("%s failed", route)
                code, message = grpc.StatusCode.INTERNAL, "internal error; see the server's log"
            finally:
                self.metrics.in_flight.dec()
                if activity:
                    activity.finished()
                self.metrics.requests.labels(route, METHOD_LABEL, code.name).inc()
                self.metrics.latency.labels(route, METHOD_LABEL).observe(time.perf_counter() - start)
            await context.abort(code, message)

        return call

    def _authorised(self, context: aio.ServicerContext) -> bool:
        assert self.token is not None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                given = value if isinstance(value, bytes) else value.encode()
                return bearer_matches(given, self.token)
        return False


def service_handler(dataplane: DataPlane, metrics: Metrics, token: str | TokenFile | None) -> Any:
    """The grpcio handler of the whole service, for `aio.Server.add_generic_rpc_handlers`."""
    service, calls = InferenceService(dataplane), Calls(metrics, token)
    table = {
        method: grpc.unary_unary_rpc_method_handler(
            calls.wrap(method, getattr(service, method)),
            request_deserializer=request_type.FromString,
            response_serializer=response_type.SerializeToString,
        )
        for method, (request_type, response_type) in METHODS.items()
    }
    return grpc.method_handlers_generic_handler(SERVICE, table)
