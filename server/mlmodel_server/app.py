"""Build the FastAPI application around a DataPlane."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from . import __version__
from .api import errors, metrics, mlflow, mlmodel, selftest, ui, v2, vision
from .api.auth import BearerAuthMiddleware, token_source
from .api.fastpath import InferFastPath, infer_routes
from .api.limits import BodyLimitMiddleware
from .canary.split import SplitCollector
from .dataplane import DataPlane
from .vision.image import DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class HttpSettings:
    max_body_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    auth_token: str | None = None  # None: no authentication
    auth_token_file: str | None = None  # where auth_token came from: re-read when it changes
    fast_path: bool = True  # serve OIP infer from api/fastpath.py; False: through FastAPI's route


def create_app(dataplane: DataPlane, settings: HttpSettings | None = None) -> FastAPI:
    """The app: protocol routers over one dataplane, errors mapped in one place. Whoever
    made the dataplane closes it (`server.serve` once HTTP and gRPC have both stopped)."""
    settings = settings or HttpSettings()
    app = FastAPI(title="mlmodel", version=__version__, description="TFLite CPU inference server")
    app.state.dataplane = dataplane
    registry = metrics.Metrics()
    app.state.metrics = registry  # shared with the gRPC service (server.py)
    registry.registry.register(SplitCollector(dataplane.models))
    for model in dataplane.models.values():
        if model.ready:
            model.observe_inference(registry.inference.labels(model.name).observe)
    oip = v2.router(dataplane, settings.max_body_bytes)
    app.include_router(oip)
    app.include_router(mlmodel.router(dataplane))
    app.include_router(vision.router(dataplane, settings.max_image_pixels))
    app.include_router(mlflow.router(dataplane))
    app.include_router(selftest.router(dataplane))
    app.include_router(metrics.router(registry, dataplane))
    app.include_router(ui.router())
    errors.install(app)
    # Middleware added first runs innermost: the fast path sits behind metrics, auth and the limit.
    if settings.fast_path:
        routes = infer_routes(oip.routes)
        app.add_middleware(
            InferFastPath, dataplane=dataplane, max_body_bytes=settings.max_body_bytes, routes=routes
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    token = token_source(settings.auth_token, settings.auth_token_file)
    if token is not None:
        app.add_middleware(BearerAuthMiddleware, token=token)
    app.add_middleware(metrics.MetricsMiddleware, metrics=registry)
    return app
