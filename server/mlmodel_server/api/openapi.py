"""Request bodies of the POST endpoints, for the OpenAPI document (`/openapi.json`).

The handlers read raw bodies (binary tensors, compressed JSON, images), so FastAPI cannot
infer what they accept. Describing it here gives clients a usable schema and lets
schema-driven fuzzing (tests/http/test_schemathesis.py) send real-looking bodies instead
of empty ones. Validation stays in the handlers: these schemas are documentation.
"""

from __future__ import annotations

from typing import Any

from ..codecs.datatypes import OIP_TO_NUMPY

_PARAMETERS = {"type": "object", "additionalProperties": True}
_BINARY = {"type": "string", "format": "binary"}

_INFER_INPUT = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "enum": list(OIP_TO_NUMPY)},
        "parameters": _PARAMETERS,
        "data": {"type": "array", "items": {}},
    },
}
_INFER_OUTPUT = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS},
}
INFER_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": _PARAMETERS,
        "inputs": {"type": "array", "items": _INFER_INPUT},
        "outputs": {"type": "array", "items": _INFER_OUTPUT},
    },
}


def infer() -> dict[str, Any]:
    """OIP inference request: JSON, or JSON header + raw tensors (binary extension)."""
    header = {
        "name": "Inference-Header-Content-Length",
        "in": "header",
        "required": False,
        "description": "Length of the JSON header when binary tensor data follows it.",
        "schema": {"type": "integer", "minimum": 0},
    }
    return {
        "parameters": [header],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": INFER_REQUEST},
                "application/octet-stream": {"schema": _BINARY},
            },
        },
    }


def image() -> dict[str, Any]:
    """An image as the raw body, or as the multipart field `image`."""
    multipart = {"type": "object", "required": ["image"], "properties": {"image": _BINARY}}
    content: dict[str, Any] = {t: {"schema": _BINARY} for t in ("image/jpeg", "image/png", "image/bmp")}
    content["multipart/form-data"] = {"schema": multipart}
    return {"requestBody": {"required": True, "content": content}}


def invocations() -> dict[str, Any]:
    """MLflow scoring: exactly one of its four input fields (`params` is ignored)."""
    rows = {"type": "array", "items": {}}
    tensor = {"oneOf": [rows, {"type": "object", "additionalProperties": True}]}
    split = {
        "type": "object",
        "required": ["data"],
        "properties": {"columns": rows, "data": rows, "index": rows},
        "additionalProperties": False,
    }
    records = {"type": "array", "items": {"type": "object", "additionalProperties": True}}
    fields = {"dataframe_split": split, "dataframe_records": records, "inputs": tensor, "instances": tensor}
    body = {
        "type": "object",
        "properties": {**fields, "params": _PARAMETERS},
        "oneOf": [{"required": [name]} for name in fields],
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}
