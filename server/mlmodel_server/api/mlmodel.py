"""Model metadata in the Viam ML model service shape (`Metadata` of mlmodel.proto)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..dataplane import DataPlane
from ..runtime.model import TFLiteModel
from ..runtime.tensors import TensorSpec


def tensor_info(spec: TensorSpec, labels: list[str]) -> dict[str, Any]:
    extra: dict[str, Any] = dict(spec.extra)
    if labels:
        extra["labels"] = labels
    if spec.quantization is not None:
        extra["quantization"] = {"scale": spec.quantization.scale, "zero_point": spec.quantization.zero_point}
    return {
        "name": spec.name,
        "description": spec.description,
        "data_type": spec.dtype.name,
        "shape": list(spec.shape_signature),
        "associated_files": list(spec.associated_files),
        "extra": extra,
    }


def viam_metadata(model: TFLiteModel) -> dict[str, Any]:
    """Viam attaches the labels to every output when a model has labels."""
    meta = model.metadata
    return {
        "name": model.name,
        "type": model.kind,
        "description": model.config.description or (meta.description if meta else ""),
        "input_info": [tensor_info(t, []) for t in model.inputs],
        "output_info": [tensor_info(t, model.labels) for t in model.outputs],
    }


def router(dataplane: DataPlane) -> APIRouter:
    api = APIRouter(tags=["ml model service"])

    @api.get("/v1/mlmodel/{name}/metadata")
    async def metadata(name: str) -> dict[str, Any]:
        return viam_metadata(dataplane.model(name, need_ready=False))

    @api.get("/v1/models")
    async def models() -> dict[str, Any]:
        """Every served model and vision service, for the test page and for humans."""
        return {
            "models": [
                {"name": m.name, "version": m.version, "type": m.kind, "ready": dataplane.model_ready(m)}
                for m in dataplane.models.values()
            ],
            "vision": [
                {"name": v.name, "model": v.model.name, **v.properties.__dict__}
                for v in dataplane.vision.values()
            ],
        }

    return api
