"""MLflow-style scoring (`mlflow models serve`): /ping, /health, /version, /invocations."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from .. import __version__
from ..dataplane import DataPlane
from ..errors import InvalidInput, UnsupportedMediaType
from ..runtime.model import TFLiteModel
from . import openapi
from .responses import JSON

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def _tensor(model: TFLiteModel, name: str, value: Any) -> np.ndarray:
    """Cast JSON data to the input's dtype; MLflow's shape message on mismatch."""
    spec = model.input_spec(name)
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and spec.dtype.kind in "biu"):
            raise ValueError(f"expected {spec.dtype.name} numbers, got {array.dtype}")
        typed = array.astype(spec.dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"Input '{name}': {exc}") from None
    if not spec.accepts_shape(tuple(typed.shape)):
        raise InvalidInput(
            f"Shape of input {tuple(typed.shape)} does not match expected shape "
            f"{tuple(spec.shape_signature)} for input '{name}'"
        )
    return typed


def _columns(rows: list[Any]) -> dict[str, list[Any]]:
    """Row-oriented `instances` ([{name: value}, ...]) as one list per input name."""
    if not all(isinstance(row, dict) for row in rows):
        raise InvalidInput("Invalid input. 'instances' must be all objects (named inputs) or all tensors")
    return {name: [row.get(name) for row in rows] for name in rows[0]}


def _named_inputs(model: TFLiteModel, doc: dict[str, Any]) -> dict[str, np.ndarray]:
    """`inputs` (a tensor, or a dict of tensors) or `instances` (rows, stacked)."""
    key = next(k for k in INPUT_KEYS if k in doc)
    if key.startswith("dataframe"):
        raise InvalidInput(f"'{key}' is not supported for tensor models; send 'inputs' or 'instances'")
    value = doc[key]
    if key == "instances" and isinstance(value, list) and value and isinstance(value[0], dict):
        value = _columns(value)
    if isinstance(value, dict):
        return {name: _tensor(model, name, data) for name, data in value.items()}
    if len(model.inputs) != 1:
        names = ", ".join(t.name for t in model.inputs)
        raise InvalidInput(f"the model has several inputs ({names}): send a dict of named tensors")
    return {model.inputs[0].name: _tensor(model, model.inputs[0].name, value)}


def _parse(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"Invalid input. Request body is not valid JSON: {exc}") from None
    present = [k for k in INPUT_KEYS if isinstance(doc, dict) and k in doc]
    if len(present) != 1:
        raise InvalidInput(
            f"Invalid input. The JSON body must have exactly one of {', '.join(INPUT_KEYS)}"
            f" (found: {', '.join(present) or 'none'})"
        )
    return doc


def router(dataplane: DataPlane) -> APIRouter:
    api = APIRouter(tags=["mlflow scoring"])

    @api.get("/ping")
    @api.get("/health")
    async def ping() -> PlainTextResponse:
        return PlainTextResponse("\n", status_code=200 if dataplane.ready else 404)

    @api.get("/version")
    async def version() -> PlainTextResponse:
        return PlainTextResponse(__version__)

    @api.post("/invocations", openapi_extra=openapi.invocations())
    async def invocations(request: Request) -> JSON:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise UnsupportedMediaType(
                f"Content-Type '{media or 'none'}' is not supported; send application/json"
            )
        model = dataplane.default_model()
        outputs = await model.predict(_named_inputs(model, _parse(await request.body())))
        arrays = list(outputs.values())
        predictions = arrays[0] if len(arrays) == 1 else outputs
        return JSON({"predictions": predictions})

    return api
