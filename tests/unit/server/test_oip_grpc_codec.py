"""The gRPC codec: typed and raw tensors in, the same InferRequest as REST's, errors named."""

from __future__ import annotations

import numpy as np
import pytest

from mlmodel_server.codecs.oip import InferRequest
from mlmodel_server.codecs.oip_grpc import decode_request, encode_response
from mlmodel_server.errors import InvalidInput
from mlmodel_server.proto import grpc_predict_v2_pb2 as pb


def request_with(datatype: str, shape: list[int], **contents) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype=datatype, shape=shape, contents=pb.InferTensorContents(**contents))
    return message


def test_typed_narrow_integers_are_range_checked():
    decoded = decode_request(request_with("INT8", [1, 3], int_contents=[-128, 0, 127]))
    assert decoded.inputs["x"].dtype == np.int8 and decoded.inputs["x"].tolist() == [[-128, 0, 127]]
    assert decoded.declared == {"x": "INT8"} and not decoded.all_binary
    with pytest.raises(InvalidInput, match="input 'x': a value is out of range for UINT8"):
        decode_request(request_with("UINT8", [2], uint_contents=[1, 256]))


def test_bytes_typed_and_raw_give_the_same_array():
    typed = decode_request(request_with("BYTES", [2], bytes_contents=[b"ab", b""]))
    raw = pb.ModelInferRequest(model_name="m", raw_input_contents=[b"\x02\x00\x00\x00ab\x00\x00\x00\x00"])
    raw.inputs.add(name="x", datatype="BYTES", shape=[2])
    assert typed.inputs["x"].tolist() == decode_request(raw).inputs["x"].tolist() == [b"ab", b""]


def test_fp16_travels_only_raw():
    with pytest.raises(InvalidInput, match="FP16 tensors travel only as raw_input_contents"):
        decode_request(request_with("FP16", [1]))
    request = InferRequest(inputs={}, declared={})
    response = encode_response("m", "1", request, {"h": np.ones(2, np.float16), "f": np.ones(2, np.float32)})
    assert len(response.raw_output_contents) == 2  # one raw output makes them all raw
    assert np.frombuffer(response.raw_output_contents[0], np.float16).tolist() == [1, 1]


def test_typed_answers_for_typed_requests():
    request = InferRequest(inputs={}, declared={}, id="q")
    response = encode_response("m", "1", request, {"y": np.array([[1, 2]], np.uint8), "s": np.array([b"a"])})
    assert response.id == "q" and not response.raw_output_contents
    assert list(response.outputs[0].contents.uint_contents) == [1, 2] and response.outputs[0].shape == [1, 2]
    assert list(response.outputs[1].contents.bytes_contents) == [b"a"]


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda m: m.raw_input_contents.append(b"\x00"), "raw_input_contents has 1 entries for 2 inputs"),
        (lambda m: setattr(m.inputs[1], "name", "x"), "input 'x' appears more than once"),
        (lambda m: setattr(m.inputs[1], "name", ""), "inputs[1] needs a 'name'"),
        (lambda m: m.inputs[0].shape.append(-1), "'shape' must be a list of non-negative integers"),
        (lambda m: m.parameters["p"].Clear(), "parameter 'p' has no value"),
        (lambda m: m.outputs.add(), "outputs[0] needs a 'name'"),
        (lambda m: setattr(m.inputs[0], "datatype", "FP8"), "unknown datatype 'FP8'"),
    ],
)
def test_malformed_requests_name_the_problem(mutate, message):
    request = request_with("FP32", [1], fp32_contents=[1.5])
    request.inputs.add(
        name="y", datatype="INT64", shape=[1], contents=pb.InferTensorContents(int64_contents=[2])
    )
    mutate(request)
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("(", r"\(")):
        decode_request(request)
