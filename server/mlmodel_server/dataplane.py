"""The dataplane: the served models and vision services, and the protocol steps on them.

Like KServe's dataplane, it is the one layer under every front door: the REST routes
(`api/v2.py`), the lean infer path (`api/fastpath.py`) and the gRPC servicer
(`api/grpc_oip.py`) resolve names and versions, read readiness and metadata, and run
inference through it, so the protocols cannot drift apart. It takes decoded requests
(`codecs/`) and raises domain errors (`errors.py`); what those become on the wire is
each front door's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__
from .codecs.datatypes import oip_datatype
from .codecs.oip import Body, InferRequest, encode_response, inflate, parse_request
from .errors import InvalidInput, ModelNotFound, ModelNotReady
from .runtime.model import TFLiteModel
from .runtime.tensors import TensorSpec
from .selftest import Result, SelfTest
from .vision.service import VisionService

SERVER_NAME = "mlmodel"
EXTENSIONS = ("binary_tensor_data", "statistics", "model_metadata", "vision", "mlflow_scoring")
PLATFORM = "tensorflow_lite"
TRITON_TYPES = {"FP32": "TYPE_FP32", "FP16": "TYPE_FP16", "FP64": "TYPE_FP64", "BYTES": "TYPE_STRING"}


@dataclass
class DataPlane:
    models: dict[str, TFLiteModel] = field(default_factory=dict)
    vision: dict[str, VisionService] = field(default_factory=dict)
    # Set on SIGTERM (server.DrainingServer): readiness fails while requests are still served.
    draining: bool = False
    # Each model's self-test and its last result (selftest.py): no result, not ready.
    selftests: dict[str, SelfTest] = field(default_factory=dict)
    results: dict[str, Result] = field(default_factory=dict)

    def add_model(self, model: TFLiteModel, selftest: SelfTest, result: Result) -> None:
        """A model with the self-test it passed at start (re-run by selftest.recheck)."""
        self.models[model.name] = model
        self.selftests[model.name] = selftest
        self.results[model.name] = result

    def add_vision(self, service: VisionService) -> None:
        self.vision[service.name] = service

    # -- health and metadata -------------------------------------------------------

    @property
    def ready(self) -> bool:
        return bool(self.models) and all(self.model_ready(m) for m in self.models.values())

    def model_ready(self, model: TFLiteModel) -> bool:
        """What the ready endpoints report: loaded, its last self-test passed, and not about
        to stop. Inference only needs `model.ready`, so a draining server, or one whose
        re-check failed, still tries the requests it gets."""
        result = self.results.get(model.name)
        return model.ready and result is not None and result.passed and not self.draining

    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The OIP model metadata (a loading model has it too)."""
        model = self.model(name, version, need_ready=False)
        return {
            "name": model.name,
            "versions": list(model.versions),
            "platform": PLATFORM,
            "inputs": [_tensor_metadata(t) for t in model.inputs],
            "outputs": [_tensor_metadata(t) for t in model.outputs],
        }

    def model_config(self, name: str, version: str | None = None) -> dict[str, object]:
        """Triton's model configuration, which tritonclient's tools read."""
        model = self.model(name, version, need_ready=False)
        return {
            "name": model.name,
            "platform": PLATFORM,
            "max_batch_size": 0,
            "input": [_triton_tensor(t) for t in model.inputs],
            "output": [_triton_tensor(t) for t in model.outputs],
        }

    def model_statistics(self, name: str | None = None, version: str | None = None) -> dict[str, Any]:
        """The statistics extension's answer: every model's, or one model's (and version's)."""
        if name is None:
            if version is not None:
                raise InvalidInput("a version needs a model name")
            models = list(self.models.values())
        else:
            models = [self.model(name, version, need_ready=False)]
        return {"model_stats": [m.stats.as_dict(m.name, m.version) for m in models]}

    # -- look-up -----------------------------------------------------------------

    def model(self, name: str, version: str | None = None, need_ready: bool = True) -> TFLiteModel:
        """The model by name (and version, when given); ModelNotFound or ModelNotReady."""
        model = self.models.get(name)
        if model is None:
            raise ModelNotFound(f"model '{_printable(name)}' not found")
        if version is not None:
            model = self._at_version(model, version)
        if need_ready and not model.ready:
            raise ModelNotReady(f"model '{name}' is not ready")
        return model

    def _at_version(self, model: TFLiteModel, version: str) -> TFLiteModel:
        """The version a request names: the model itself, or one side of a canary's split."""
        pinned = model.at_version(version)
        if pinned is None:
            served = ", ".join(model.versions)
            raise ModelNotFound(
                f"model '{model.name}' has no version '{_printable(version)}' (served: {served})"
            )
        return pinned

    def default_model(self) -> TFLiteModel:
        """The single served model, for protocols without a model name (MLflow)."""
        return self.model(next(iter(self.models)))

    def vision_service(self, name: str) -> VisionService:
        service = self.vision.get(name)
        if service is None:
            raise ModelNotFound(f"vision service '{_printable(name)}' not found")
        if not service.model.ready:
            raise ModelNotReady(f"vision service '{name}' is not ready")
        return service

    # -- inference -----------------------------------------------------------------

    async def infer(self, model: TFLiteModel, request: InferRequest) -> dict[str, np.ndarray]:
        """Check a decoded request in OIP terms, then predict: every protocol's infer."""
        _check_datatypes(model, request)
        return await model.predict(request.inputs, request.outputs or None)

    async def infer_rest(
        self,
        model: TFLiteModel,
        body: Body,
        content_encoding: str | None,
        header_length: str | None,
        max_bytes: int,
    ) -> tuple[bytes, int | None]:
        """A REST infer body in, the answer's body and binary header length (or None)
        out: what the FastAPI route and the fast path both run."""
        request = parse_request(inflate(body, content_encoding, max_bytes), header_length)
        outputs = await self.infer(model, request)
        return encode_response(model.name, model.version, request, outputs)

    def close(self) -> None:
        for model in self.models.values():
            model.close()


def _check_datatypes(model: TFLiteModel, request: InferRequest) -> None:
    """Name the mismatch in OIP terms before the model's own check."""
    for name, declared in request.declared.items():
        expected = oip_datatype(model.input_spec(name).dtype)
        if declared != expected:
            raise InvalidInput(f"input '{name}': datatype {declared} does not match the model's {expected}")


def _tensor_metadata(spec: TensorSpec) -> dict[str, object]:
    return {"name": spec.name, "datatype": oip_datatype(spec.dtype), "shape": list(spec.shape_signature)}


def _triton_tensor(spec: TensorSpec) -> dict[str, object]:
    datatype = oip_datatype(spec.dtype)
    return {
        "name": spec.name,
        "data_type": TRITON_TYPES.get(datatype, f"TYPE_{datatype}"),
        "dims": list(spec.shape_signature),
    }


def _printable(name: str) -> str:
    """Echo a user-supplied name safely: bounded and without control characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in name[:128])
