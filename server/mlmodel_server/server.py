"""Assemble the dataplane from `mlmodel serve`'s options and serve it: uvicorn for HTTP and
grpcio's asyncio server for gRPC, in one process and one event loop."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from .api.auth import token_source
from .app import HttpSettings, create_app

if TYPE_CHECKING:
    from grpc import aio
from .canary.options import CandidateOptions
from .canary.split import SplitPlan, VersionSplit, split_plan
from .dataplane import DataPlane
from .errors import LABELS_MISMATCH, ModelLoadError
from .options import ServeOptions
from .package import Package, check_signature, model_package, read_package
from .runtime.model import ModelConfig, TFLiteModel
from .selftest import recheck, verify
from .vision.config import VisionConfig
from .vision.service import VisionService

log = logging.getLogger("mlmodel.serve")

# uvicorn's receive buffer: bodies up to this size arrive without pausing the connection.
RECEIVE_HIGH_WATER = 4 * 1024 * 1024
UVICORN_BODY_PROTOCOLS = ("uvicorn.protocols.http.httptools_impl", "uvicorn.protocols.http.h11_impl")


class ServeError(Exception):
    """The server cannot start (e.g. the port is taken)."""


def model_config(options: ServeOptions) -> tuple[ModelConfig, Package | None]:
    """ModelConfig from --model or --package-dir (or --model's --package-root); flags
    override the manifest."""
    package = read_package(options.package_dir) if options.package_dir else None
    if options.model and options.package_root:
        package = model_package(options.package_root, options.model)
    path = package.model_path if package else options.model
    assert path is not None, "argparse requires --model or --package-dir"
    labels = options.labels or (package.label_path if package else None)
    config = ModelConfig(
        model_path=path,
        label_path=labels,
        num_threads=options.num_threads or (package.num_threads if package else 1),
        name=options.name or (options.package_dir.resolve().name if options.package_dir else path.stem),
        version=options.model_version or (package.version if package and package.version else "1"),
        pool_size=options.pool_size or 0,
        solo_threads=options.solo_threads,
        max_batch_size=options.max_batch_size,
        max_batch_delay=options.max_batch_delay,
        description=package.description if package else "",
        input_columns=tuple(package.input_columns) if package else (),
    )
    return config, package


def build_dataplane(
    options: ServeOptions, vision_attrs: Mapping[str, object], candidate: CandidateOptions | None = None
) -> DataPlane:
    config, package = model_config(options)
    vision = VisionConfig.from_attributes(vision_attrs)
    split = split_plan(candidate, config) if candidate else None
    dataplane = assemble(config, vision, options.vision_name, package, split)
    if options.vision_config is not None:  # a VisionService's pod: the model must fit
        try:
            next(iter(dataplane.vision.values())).require_vision_model()
        except ModelLoadError:
            dataplane.close()
            raise
    return dataplane


def assemble(
    config: ModelConfig,
    vision: VisionConfig | None = None,
    vision_name: str | None = None,
    package: Package | None = None,
    split: SplitPlan | None = None,
) -> DataPlane:
    """Load the model, check it against its package and labels, have it pass its
    self-test, wire the vision service; with a candidate, serve both under the name."""
    model = TFLiteModel(config)
    model.load()
    try:
        if package is not None:
            check_signature(package, model.inputs, model.outputs)
        _check_labels(model)
        selftest, result = verify(model, package)
    except ModelLoadError:
        model.close()
        raise
    if split is not None:
        model = with_candidate(model, split)
    dataplane = DataPlane()
    dataplane.add_model(model, selftest, result)
    dataplane.add_vision(VisionService(vision_name or config.name, model, vision or VisionConfig()))
    return dataplane


def with_candidate(stable: TFLiteModel, plan: SplitPlan) -> VersionSplit:
    """The stable model and the candidate under one name; both closed when the candidate
    cannot load, fails its package's or labels' checks, or cannot stand in for the stable."""
    candidate = TFLiteModel(plan.config)
    try:
        try:
            candidate.load()
            if plan.package is not None:
                check_signature(plan.package, candidate.inputs, candidate.outputs)
            _check_labels(candidate)
        except ModelLoadError as exc:
            raise ModelLoadError(f"candidate version {candidate.version}: {exc}", exc.reason) from exc
        return VersionSplit(stable, candidate, plan)
    except ModelLoadError:
        stable.close()
        candidate.close()
        raise


def _check_labels(model: TFLiteModel) -> None:
    """A classifier's labels must cover its classes, or every answer would be wrong."""
    if model.kind != "classifier" or not model.labels:
        return
    classes = model.outputs[0].shape[-1]
    if len(model.labels) != classes:
        raise ModelLoadError(
            f"labels file has {len(model.labels)} labels but model output '{model.outputs[0].name}' "
            f"has {classes} classes",
            LABELS_MISMATCH,
        )


@dataclass(frozen=True)
class GrpcEndpoint:
    """The gRPC service and where it listens, started inside the server's event loop
    (grpcio's asyncio server belongs to the loop it was made in)."""

    handler: Any  # api/grpc_oip.service_handler
    host: str
    port: int
    max_message_bytes: int  # --max-body-bytes: grpcio refuses larger requests itself

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def start(self) -> aio.Server:
        from grpc import aio  # only with a gRPC port: grpcio is the server's second-largest import

        server = aio.server(
            options=[
                # grpcio sets SO_REUSEPORT by default: a second server on a taken port would
                # share it silently instead of failing.
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", self.max_message_bytes),
                ("grpc.max_send_message_length", -1),
            ]
        )
        server.add_generic_rpc_handlers((self.handler,))
        try:
            server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise ServeError(f"cannot listen on {self.address} for gRPC: {exc}") from exc
        await server.start()
        return server


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so a taken port is one clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def check_port(host: str, port: int) -> None:
    """Fail before loading anything more when the gRPC port is taken (one clear line);
    grpcio binds it later, inside the event loop."""
    bind_socket(host, port).close()


def serve(dataplane: DataPlane, sock: socket.socket, options: ServeOptions, auth_token: str | None) -> None:
    """Serve until stopped, then close the dataplane (after HTTP and gRPC both stopped).
    `auth_token` is --auth-token-file's token as read at start (None: no auth)."""
    settings = HttpSettings(
        options.max_body_bytes,
        options.max_image_pixels,
        auth_token=auth_token,
        auth_token_file=options.auth_token_file,
    )
    app = create_app(dataplane, settings)
    host, port = sock.getsockname()[:2]
    grpc = None
    if options.grpc_port:
        from .api.grpc_oip import service_handler  # grpcio only with a gRPC port

        token = token_source(auth_token, options.auth_token_file)
        handler = service_handler(dataplane, app.state.metrics, token)
        grpc = GrpcEndpoint(handler, options.host, options.grpc_port, options.max_body_bytes)
    raise_receive_high_water(max(65536, min(RECEIVE_HIGH_WATER, options.max_body_bytes)))
    config = uvicorn.Config(
        app,
        log_level=options.log_level,
        access_log=False,
        loop=_best("uvloop", "asyncio"),
        http=_best("httptools", "h11"),
        timeout_graceful_shutdown=options.shutdown_timeout,
    )
    for model in dataplane.models.values():
        print(
            f"mlmodel: serving '{model.name}' ({model.kind}, {model.runtime}, "
            f"{model.pool_size} interpreter(s) x {model.config.num_threads} thread(s)"
            f"{f', 1 x {model.solo_threads} for lone requests' if model.solo_threads else ''}) "
            f"on http://{host}:{port}{f' and grpc://{grpc.address}' if grpc else ''}",
            file=sys.stderr,
            flush=True,
        )
        _print_batching(model)
        result, every = dataplane.results[model.name], options.recheck_seconds
        print(
            f"mlmodel: self-test passed: '{model.name}' answered its {result.check} in "
            f"{result.seconds * 1000:.1f} ms; {f're-checked every {every}s' if every else 'no re-checks'}",
            file=sys.stderr,
            flush=True,
        )
    server = DrainingServer(config, dataplane, options.drain_seconds, grpc, options.recheck_seconds)
    try:
        server.run(sockets=[sock])
    finally:
        dataplane.close()


class DrainingServer(uvicorn.Server):
    """uvicorn whose SIGTERM first fails readiness, then keeps serving for `drain_seconds`.

    Why: a pod being replaced still receives new connections until every kube-proxy has
    dropped it from the Service, and uvicorn closes its listener at the first SIGTERM, so
    those connections were refused. Draining, the ready endpoints answer 503 while every
    other request, on new connections too, is still served; then uvicorn's own graceful
    shutdown closes the listener and lets the requests in flight finish (up to
    `timeout_graceful_shutdown`). A second SIGTERM ends the drain early; SIGINT (Ctrl-C)
    stops without one. uvicorn re-raises the signals it handled once it has stopped, which
    would end the process with "killed by SIGTERM"; a drained stop exits 0 instead.

    The gRPC service, when there is one, lives and stops with it: started before the HTTP
    listener, so HTTP readiness implies gRPC's; serving through the drain (its readiness
    RPCs read the same dataplane flag); stopped together with HTTP, its calls in flight
    given the same timeout. The self-test's re-checks (`recheck_seconds`, 0: none) run in
    the same loop from start-up to shutdown.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        dataplane: DataPlane,
        drain_seconds: float,
        grpc: GrpcEndpoint | None = None,
        recheck_seconds: float = 0,
    ) -> None:
        super().__init__(config)
        self.dataplane = dataplane
        self.drain_seconds = drain_seconds
        self.drain_until: float | None = None
        self.grpc = grpc
        self.grpc_server: aio.Server | None = None
        self.recheck_seconds = recheck_seconds
        self.rechecks: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if self.grpc is not None:
            self.grpc_server = await self.grpc.start()
        if self.recheck_seconds:
            self.rechecks = asyncio.create_task(recheck(self.dataplane, self.recheck_seconds))
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.rechecks is not None:
            self.rechecks.cancel()
        if self.grpc_server is None:
            await super().shutdown(sockets)
            return
        grace = self.config.timeout_graceful_shutdown
        await asyncio.gather(self.grpc_server.stop(grace), super().shutdown(sockets))

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM:
            super().handle_exit(sig, frame)
        elif self.drain_until is None:
            self.dataplane.draining = True
            self.drain_until = time.monotonic() + self.drain_seconds
            print(
                f"mlmodel: SIGTERM: not ready; serving {self.drain_seconds:g}s more, then waiting "
                f"up to {self.config.timeout_graceful_shutdown}s for requests in flight",
                file=sys.stderr,
                flush=True,
            )
        else:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.should_exit = True
        return await super().on_tick(counter)


def raise_receive_high_water(limit: int) -> list[str]:
    """Let uvicorn buffer up to `limit` body bytes of a request before it pauses reading.

    Why: uvicorn pauses a connection whenever over 64 KiB of body waits for the app and
    resumes it on the next receive(), so a 602 KB tensor came in three chunks with two
    pause/resume round trips. A bare ASGI app reading such bodies used 0.86 ms of CPU and
    answered in 0.92 ms (p50) per request that way, 0.3-0.43 ms and 0.25 ms with one chunk:
    the largest cost around the invoke, more than FastAPI's layers. uvicorn has no setting
    for it, so the module constant its protocols read is raised (each connection still
    pauses above `limit`; the app buffers whole bodies up to --max-body-bytes anyway).
    Returns the modules changed, so a uvicorn that renamed it shows in the tests.
    """
    changed = []
    for name in UVICORN_BODY_PROTOCOLS:
        module: Any = importlib.import_module(name)
        if isinstance(getattr(module, "HIGH_WATER_LIMIT", None), int):
            module.HIGH_WATER_LIMIT = limit
            changed.append(name)
    return changed


def _print_batching(model: TFLiteModel) -> None:
    """Say whether --max-batch-size took effect (a model with fixed shapes cannot batch)."""
    asked = model.config.max_batch_size
    if asked > 1:
        state = f"up to {asked} rows" if model.batching else "off: a tensor has no dynamic first dimension"
        print(f"mlmodel: adaptive batching for '{model.name}': {state}", file=sys.stderr, flush=True)


def _best(preferred: str, fallback: str) -> str:
    try:
        __import__(preferred)
        return preferred
    except ImportError:
        return fallback
