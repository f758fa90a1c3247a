"""Decode and encode Open Inference Protocol gRPC messages (`proto/grpc_predict_v2.proto`).

A ModelInferRequest carries each input either typed, in the `contents` field its datatype
uses, or raw, as one `raw_input_contents` entry per input laid out as the REST binary
extension's tensors. It becomes the same `InferRequest` the REST codec produces, with the
same checks and messages, so the dataplane cannot tell the protocols apart. Answers come
the way the request came: raw outputs for raw inputs (Triton's clients send and expect
those), typed contents for typed inputs, unless an output can only travel raw (FP16) or
the request parameter `binary_data_output` asks for raw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..proto import grpc_predict_v2_pb2 as pb
from .datatypes import numpy_dtype, oip_datatype
from .oip import InferRequest, as_bytes, from_raw, raw_bytes, tensor_shape

# The InferTensorContents field of each datatype, and the NumPy type protobuf stores it as.
CONTENTS: dict[str, tuple[str, np.dtype[Any]]] = {
    "BOOL": ("bool_contents", np.dtype(np.bool_)),
    "INT8": ("int_contents", np.dtype(np.int32)),
    "INT16": ("int_contents", np.dtype(np.int32)),
    "INT32": ("int_contents", np.dtype(np.int32)),
    "INT64": ("int64_contents", np.dtype(np.int64)),
    "UINT8": ("uint_contents", np.dtype(np.uint32)),
    "UINT16": ("uint_contents", np.dtype(np.uint32)),
    "UINT32": ("uint_contents", np.dtype(np.uint32)),
    "UINT64": ("uint64_contents", np.dtype(np.uint64)),
    "FP32": ("fp32_contents", np.dtype(np.float32)),
    "FP64": ("fp64_contents", np.dtype(np.float64)),
    "BYTES": ("bytes_contents", np.dtype(np.object_)),
}


def decode_request(message: pb.ModelInferRequest) -> InferRequest:
    """The request's tensors as arrays; errors name the offending tensor or field."""
    if not message.inputs:
        raise InvalidInput("request field 'inputs' must be a non-empty list")
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise InvalidInput(f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs")
    request = InferRequest(inputs={}, declared={}, id=message.id or None)
    request.parameters = parameters(message.parameters)
    request.all_binary = bool(raw) or bool(request.parameters.get("binary_data_output", False))
    for position, tensor in enumerate(message.inputs):
        if not tensor.name:
            raise InvalidInput(f"inputs[{position}] needs a 'name'")
        if tensor.name in request.inputs:
            raise InvalidInput(f"input '{tensor.name}' appears more than once")
        chunk = raw[position] if raw else None
        request.inputs[tensor.name] = _decode_input(tensor, chunk, position)
        request.declared[tensor.name] = tensor.datatype
    for position, output in enumerate(message.outputs):
        if not output.name:
            raise InvalidInput(f"outputs[{position}] needs a 'name'")
        request.outputs.append(output.name)
    return request


def parameters(given: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    """Parameters as plain values (bool, int or str)."""
    values = {}
    for key, parameter in given.items():
        choice = parameter.WhichOneof("parameter_choice")
        if choice is None:
            raise InvalidInput(f"parameter '{key}' has no value")
        values[key] = getattr(parameter, choice)
    return values


def _decode_input(
    tensor: pb.ModelInferRequest.InferInputTensor, raw: bytes | None, position: int
) -> np.ndarray:
    name, datatype = tensor.name, tensor.datatype
    dtype = numpy_dtype(datatype)
    shape = tensor_shape(list(tensor.shape), name)
    if raw is not None:
        if tensor.HasField("contents"):
            raise InvalidInput(f"input '{name}' has contents, but the request sends raw_input_contents")
        return from_raw(name, raw, dtype, shape, f"raw_input_contents[{position}]")
    if datatype not in CONTENTS:
        raise InvalidInput(f"input '{name}': {datatype} tensors travel only as raw_input_contents")
    field, stored = CONTENTS[datatype]
    values = getattr(tensor.contents, field)
    count = math.prod(shape)
    if len(values) != count:
        raise InvalidInput(
            f"input '{name}': {len(values)} elements in contents.{field} but shape {list(shape)} "
            f"needs {count}"
        )
    if dtype.kind == "O":
        return np.array(list(values), dtype=np.object_).reshape(shape)
    return _narrowed(name, np.fromiter(values, dtype=stored, count=count), dtype).reshape(shape)


def _narrowed(name: str, array: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """INT8/INT16/UINT8/UINT16 travel in 32-bit fields; a value that does not fit is refused."""
    if array.dtype == dtype:
        return array
    limits = np.iinfo(dtype)
    if array.size and (array.min() < limits.min or array.max() > limits.max):
        raise InvalidInput(f"input '{name}': a value is out of range for {oip_datatype(dtype)}")
    return array.astype(dtype)


# -- responses -----------------------------------------------------------------


def encode_response(
    model_name: str, model_version: str, request: InferRequest, outputs: Mapping[str, np.ndarray]
) -> pb.ModelInferResponse:
    """Raw or typed as the request came (see the module docstring)."""
    response = pb.ModelInferResponse(model_name=model_name, model_version=model_version, id=request.id or "")
    datatypes = {name: oip_datatype(array.dtype) for name, array in outputs.items()}
    raw = request.all_binary or any(d not in CONTENTS for d in datatypes.values())
    for name, array in outputs.items():
        tensor = response.outputs.add(name=name, datatype=datatypes[name], shape=array.shape)
        if raw:
            response.raw_output_contents.append(raw_bytes(array))
        elif datatypes[name] == "BYTES":
            tensor.contents.bytes_contents.extend(as_bytes(v) for v in array.ravel())
        else:
            getattr(tensor.contents, CONTENTS[datatypes[name]][0]).extend(array.ravel().tolist())
    return response
