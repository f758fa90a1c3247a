"""The dataplane: the registry of served models and vision services.

Endpoint modules call it with protocol-neutral arguments; it resolves names
and versions (raising ModelNotFound/ModelNotReady) and delegates to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import __version__
from .errors import ModelNotFound, ModelNotReady
from .runtime.model import TFLiteModel
from .vision.service import VisionService

SERVER_NAME = "mlmodel"
EXTENSIONS = ("binary_tensor_data", "model_metadata", "vision", "mlflow_scoring")


@dataclass
class DataPlane:
    models: dict[str, TFLiteModel] = field(default_factory=dict)
    vision: dict[str, VisionService] = field(default_factory=dict)
    # Set on SIGTERM (server.DrainingServer): readiness fails while requests are still served.
    draining: bool = False

    def add_model(self, model: TFLiteModel) -> None:
        self.models[model.name] = model

    def add_vision(self, service: VisionService) -> None:
        self.vision[service.name] = service

    @property
    def ready(self) -> bool:
        return bool(self.models) and all(self.model_ready(m) for m in self.models.values())

    def model_ready(self, model: TFLiteModel) -> bool:
        """What the ready endpoints report: loaded, and not about to stop. Inference only
        needs `model.ready`, so a draining server still answers the requests it gets."""
        return model.ready and not self.draining

    def server_metadata(self) -> dict[str, object]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}

    def model(self, name: str, version: str | None = None, need_ready: bool = True) -> TFLiteModel:
        """The model by name (and version, when given); 404 or 503 otherwise."""
        model = self.models.get(name)
        if model is None:
            raise ModelNotFound(f"model '{_printable(name)}' not found")
        if version is not None and version != model.version:
            raise ModelNotFound(
                f"model '{name}' has no version '{_printable(version)}' (served: {model.version})"
            )
        if need_ready and not model.ready:
            raise ModelNotReady(f"model '{name}' is not ready")
        return model

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

    def close(self) -> None:
        for model in self.models.values():
            model.close()


def _printable(name: str) -> str:
    """Echo a user-supplied name safely: bounded and without control characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in name[:128])
