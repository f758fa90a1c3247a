"""Decode and encode Open Inference Protocol v2 REST bodies.

Both the JSON form and Triton's binary tensor data extension are handled:
a JSON header of `Inference-Header-Content-Length` bytes, then the raw
little-endian bytes of each tensor that declares `binary_data_size`, in a body
that may come gzip- or deflate-compressed. The raw tensor layout is the one the
gRPC codec (`oip_grpc.py`) reads and writes too.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from ..errors import InvalidInput, PayloadTooLarge
from . import jsonarrays
from .datatypes import numpy_dtype, oip_datatype

HEADER_LENGTH = "inference-header-content-length"

# A request body: bytes, or a memoryview of the buffer it was received into. Slices of a
# memoryview are views, so the binary tensors reach NumPy without being copied again.
Body = bytes | bytearray | memoryview


@dataclass
class InferRequest:
    """An infer request decoded from either protocol, what the dataplane runs."""

    inputs: dict[str, np.ndarray]
    declared: dict[str, str]  # input name → declared OIP datatype
    outputs: list[str] = field(default_factory=list)
    binary_outputs: set[str] = field(default_factory=set)
    all_binary: bool = False  # REST: binary_data_output; gRPC: raw_output_contents
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def inflate(body: Body, content_encoding: str | None, max_bytes: int) -> Body:
    """The request body, inflated when the client compressed it (tritonclient can)."""
    encoding = (content_encoding or "identity").lower()
    if encoding in ("identity", ""):
        return body
    if encoding not in ("gzip", "deflate"):
        raise InvalidInput(f"unsupported Content-Encoding '{encoding}'; use gzip or deflate")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | (16 if encoding == "gzip" else 0))
    try:
        inflated = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise InvalidInput(f"cannot inflate the {encoding} body: {exc}") from None
    if len(inflated) > max_bytes:
        raise PayloadTooLarge(f"inflated request body exceeds the limit of {max_bytes} bytes")
    return inflated


def parse_request(body: Body, header_length: str | None) -> InferRequest:
    """Parse a JSON or binary-extension infer request; errors name the offending field."""
    header, payload = _split(body, header_length)
    doc = _json_object(header)
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("request field 'inputs' must be a non-empty list")
    request = InferRequest(inputs={}, declared={}, id=_optional_str(doc, "id"))
    request.parameters = _parameters(doc, "request")
    request.all_binary = bool(request.parameters.get("binary_data_output", False))
    offset = 0
    for position, spec in enumerate(raw_inputs):
        name, datatype, array, used = _decode_input(spec, position, payload, offset)
        if name in request.inputs:
            raise InvalidInput(f"input '{name}' appears more than once")
        request.inputs[name], request.declared[name] = array, datatype
        offset += used
    if offset != len(payload):
        raise InvalidInput(
            f"binary data holds {len(payload)} bytes but the inputs' binary_data_size add up to {offset}"
        )
    _requested_outputs(doc, request)
    return request


def _split(body: Body, header_length: str | None) -> tuple[Body, Body]:
    """(JSON header, binary payload); memoryview slices when given a memoryview."""
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        raise InvalidInput(f"Inference-Header-Content-Length {header_length!r} is not an integer") from None
    if not 0 < length <= len(body):
        raise InvalidInput(
            f"Inference-Header-Content-Length {length} is outside the body of {len(body)} bytes"
        )
    return body[:length], body[length:]


def _json_object(header: Body) -> dict[str, Any]:
    """The JSON header; a large `inputs[i].data` array of numbers comes as the NumPy array
    `np.asarray` would make of its list (jsonarrays.py), everything else as orjson gives it."""
    try:
        doc = jsonarrays.loads(header, keep=_input_data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("request body must be a JSON object")
    return doc


def _input_data(path: jsonarrays.Path) -> bool:
    return len(path) == 3 and path[0] == "inputs" and path[2] == "data"


def _optional_str(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"request field '{key}' must be a string")
    return value


def _parameters(doc: Mapping[str, Any], where: str) -> dict[str, Any]:
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise InvalidInput(f"{where} field 'parameters' must be an object")
    return params


def _decode_input(spec: Any, position: int, payload: Body, offset: int) -> tuple[str, str, np.ndarray, int]:
    """One input tensor → (name, datatype, array, binary bytes consumed)."""
    if not isinstance(spec, dict):
        raise InvalidInput(f"inputs[{position}] must be an object")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"inputs[{position}] needs a 'name'")
    datatype = spec.get("datatype")
    if not isinstance(datatype, str):
        raise InvalidInput(f"input '{name}' needs a 'datatype'")
    dtype = numpy_dtype(datatype)
    shape = tensor_shape(spec.get("shape"), name)
    size = _parameters(spec, f"input '{name}'").get("binary_data_size")
    if size is not None:
        chunk = _binary_chunk(name, size, payload, offset)
        return name, datatype, from_raw(name, chunk, dtype, shape, "binary_data_size"), len(chunk)
    if "data" not in spec:
        raise InvalidInput(f"input '{name}' has neither 'data' nor parameters.binary_data_size")
    return name, datatype, _from_json(name, spec["data"], dtype, shape), 0


def tensor_shape(value: Any, name: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(d, int) and d >= 0 for d in value):
        raise InvalidInput(f"input '{name}': 'shape' must be a list of non-negative integers")
    return tuple(value)


def _binary_chunk(name: str, size: Any, payload: Body, offset: int) -> Body:
    if not isinstance(size, int) or size < 0:
        raise InvalidInput(f"input '{name}': binary_data_size must be a non-negative integer")
    if offset + size > len(payload):
        raise InvalidInput(
            f"input '{name}': binary_data_size {size} runs past the {len(payload)} bytes of binary data"
        )
    return payload[offset : offset + size]


def from_raw(name: str, chunk: Body, dtype: np.dtype[Any], shape: tuple[int, ...], what: str) -> np.ndarray:
    """A tensor from its raw bytes (a view of them, not a copy); `what` names the bytes'
    field in the error, as the protocol calls it."""
    count = math.prod(shape)
    if dtype.kind == "O":
        return _bytes_elements(name, chunk, count).reshape(shape)
    if len(chunk) != count * dtype.itemsize:
        raise InvalidInput(
            f"input '{name}': {what} is {len(chunk)} bytes but shape {list(shape)} of "
            f"{oip_datatype(dtype)} needs {count * dtype.itemsize}"
        )
    return np.frombuffer(chunk, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(shape)


def _bytes_elements(name: str, chunk: Body, count: int) -> np.ndarray:
    """BYTES elements: each a 4-byte little-endian length, then the bytes (copied out of a view)."""
    items, pos = [], 0
    while pos < len(chunk):
        if pos + 4 > len(chunk):
            raise InvalidInput(f"input '{name}': truncated BYTES element length")
        (length,) = struct.unpack_from("<I", chunk, pos)
        if pos + 4 + length > len(chunk):
            raise InvalidInput(f"input '{name}': BYTES element of {length} bytes runs past the data")
        items.append(bytes(chunk[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    if len(items) != count:
        raise InvalidInput(f"input '{name}': {len(items)} BYTES elements for {count} expected")
    return np.array(items, dtype=np.object_)


def _from_json(name: str, data: Any, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
    """Nested or flat row-major JSON data (lists, or the array jsonarrays made of them) →
    an array of `shape`."""
    try:
        array = _typed_array(data, dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"input '{name}': data does not fit {oip_datatype(dtype)}: {exc}") from None
    if array.size != math.prod(shape):
        raise InvalidInput(
            f"input '{name}': {array.size} elements in 'data' but shape {list(shape)} needs "
            f"{math.prod(shape)}"
        )
    return array.reshape(shape)


def _bytes_array(data: Any) -> np.ndarray:
    """BYTES elements are JSON strings. Anything else is refused: `bytes(n)` of a number
    would allocate n zero bytes, so `[1e12]`-sized integers were a memory exhaustion."""
    flat = np.asarray(data, dtype=np.object_).ravel()
    for item in flat:
        if not isinstance(item, str):
            raise TypeError(f"BYTES elements must be strings, got {type(item).__name__}")
    return np.array([s.encode() for s in flat], dtype=np.object_)


def _typed_array(data: Any, dtype: np.dtype[Any]) -> np.ndarray:
    if dtype.kind == "O":
        return _bytes_array(data)
    loose = np.asarray(data)
    if loose.dtype.kind not in "biuf" or (loose.dtype.kind == "f" and dtype.kind in "biu"):
        raise ValueError(f"expected {'integers' if dtype.kind in 'iu' else 'numbers'}, got {loose.dtype}")
    if (
        dtype.kind in "iu"
        and loose.size
        and (loose.min() < np.iinfo(dtype).min or loose.max() > np.iinfo(dtype).max)
    ):
        raise ValueError("a value is out of range")
    with np.errstate(over="ignore"):
        typed = loose.astype(dtype, copy=False).ravel()
    if dtype.kind == "f" and not np.array_equal(np.isfinite(typed), np.isfinite(loose.ravel())):
        raise ValueError("a value is out of range")
    return typed


def _requested_outputs(doc: Mapping[str, Any], request: InferRequest) -> None:
    outputs = doc.get("outputs")
    if outputs is None:
        return
    if not isinstance(outputs, list):
        raise InvalidInput("request field 'outputs' must be a list")
    for position, item in enumerate(outputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidInput(f"outputs[{position}] needs a 'name'")
        request.outputs.append(item["name"])
        if _parameters(item, f"output '{item['name']}'").get("binary_data"):
            request.binary_outputs.add(item["name"])


# -- responses -----------------------------------------------------------------


def encode_response(
    model_name: str,
    model_version: str,
    request: InferRequest,
    outputs: Mapping[str, np.ndarray],
) -> tuple[bytes, int | None]:
    """(body, header length or None). Binary when the request asked for it."""
    docs, chunks = [], []
    for name, array in outputs.items():
        binary = request.all_binary or name in request.binary_outputs
        doc, chunk = _encode_output(name, array, binary)
        docs.append(doc)
        if chunk is not None:
            chunks.append(chunk)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": docs}
    if request.id is not None:
        response["id"] = request.id
    header = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def _encode_output(name: str, array: np.ndarray, binary: bool) -> tuple[dict[str, Any], bytes | None]:
    doc: dict[str, Any] = {"name": name, "datatype": oip_datatype(array.dtype), "shape": list(array.shape)}
    if binary:
        chunk = raw_bytes(array)
        doc["parameters"] = {"binary_data_size": len(chunk)}
        return doc, chunk
    doc["data"] = _json_data(array)
    return doc, None


def raw_bytes(array: np.ndarray) -> bytes:
    """A tensor's raw bytes: little-endian elements, BYTES ones length-prefixed."""
    if array.dtype.kind in "OSU":
        parts = [as_bytes(v) for v in array.ravel()]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _json_data(array: np.ndarray) -> Sequence[Any] | np.ndarray:
    if array.dtype.kind in "OSU":
        return [as_bytes(v).decode("utf-8", "replace") for v in array.ravel()]
    if array.dtype == np.float16:
        return array.astype(np.float32).ravel()
    return array.ravel()


def as_bytes(value: Any) -> bytes:
    """A BYTES element as bytes (TFLite string tensors may hold str)."""
    return value if isinstance(value, bytes) else str(value).encode()
