"""The OIP codec: JSON and binary requests in, JSON and binary responses out."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from mlmodel_server.codecs.oip import encode_response, parse_request
from mlmodel_server.errors import InvalidInput


def json_request(**tensor) -> bytes:
    base = {"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [1, 2, 3, 4]}
    return orjson.dumps({"inputs": [{**base, **tensor}]})


def binary_request(arrays: dict[str, tuple[str, np.ndarray]], extra: dict | None = None) -> tuple[bytes, str]:
    inputs = [
        {"name": n, "datatype": dt, "shape": list(a.shape), "parameters": {"binary_data_size": a.nbytes}}
        for n, (dt, a) in arrays.items()
    ]
    header = orjson.dumps({"inputs": inputs, **(extra or {})})
    return header + b"".join(a.tobytes() for _, a in arrays.values()), str(len(header))


def test_flat_and_nested_json_data_give_the_same_tensor():
    flat = parse_request(json_request(), None).inputs["x"]
    nested = parse_request(json_request(data=[[1, 2], [3, 4]]), None).inputs["x"]
    assert flat.dtype == np.float32 and flat.shape == (2, 2)
    np.testing.assert_array_equal(flat, nested)


@pytest.mark.parametrize(
    "datatype,dtype",
    [
        ("UINT8", np.uint8),
        ("INT32", np.int32),
        ("INT64", np.int64),
        ("FP16", np.float16),
        ("FP64", np.float64),
        ("BOOL", np.bool_),
        ("INT8", np.int8),
        ("UINT16", np.uint16),
    ],
)
def test_every_numeric_datatype_round_trips_through_binary(datatype, dtype):
    array = np.arange(6).reshape(2, 3).astype(dtype)
    body, length = binary_request({"t": (datatype, array)})
    parsed = parse_request(body, length)
    np.testing.assert_array_equal(parsed.inputs["t"], array)
    assert parsed.inputs["t"].dtype == dtype


def test_bytes_elements_are_length_prefixed():
    chunk = b"".join(struct.pack("<I", len(s)) + s for s in (b"ab", b"", b"xyz"))
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "s",
                    "datatype": "BYTES",
                    "shape": [3],
                    "parameters": {"binary_data_size": len(chunk)},
                }
            ]
        }
    )
    parsed = parse_request(header + chunk, str(len(header)))
    assert list(parsed.inputs["s"]) == [b"ab", b"", b"xyz"]


@pytest.mark.parametrize(
    "body,length,message",
    [
        (b"not json", None, "not valid JSON"),
        (b"[1]", None, "JSON object"),
        (b'{"inputs": []}', None, "'inputs' must be a non-empty list"),
        (json_request(datatype="FLOAT"), None, "unknown datatype 'FLOAT'"),
        (json_request(shape=[3]), None, "4 elements in 'data' but shape [3] needs 3"),
        (json_request(shape=[-1, 2]), None, "non-negative integers"),
        (json_request(datatype="UINT8", data=[1, 2, 3, 300]), None, "out of range"),
        (json_request(datatype="INT32", data=[1.5, 2, 3, 4]), None, "expected integers"),
        (json_request(data=[1e300, 2, 3, 4]), None, "out of range"),
        (json_request(data=["a", "b", "c", "d"]), None, "does not fit FP32"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}', None, "neither 'data'"),
    ],
)
def test_bad_json_requests_name_the_problem(body, length, message):
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_request(body, length)


def test_binary_sizes_that_lie_are_refused():
    array = np.zeros((2, 2), np.float32)
    body, length = binary_request({"x": ("FP32", array)})
    with pytest.raises(InvalidInput, match="binary data holds"):
        parse_request(body + b"extra", length)
    with pytest.raises(InvalidInput, match="runs past"):
        parse_request(body[:-4], length)
    with pytest.raises(InvalidInput, match="outside the body"):
        parse_request(body, str(len(body) + 10))
    short = np.zeros(3, np.float32)
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [2, 2],
                    "parameters": {"binary_data_size": short.nbytes},
                }
            ]
        }
    )
    with pytest.raises(InvalidInput, match="needs 16"):
        parse_request(header + short.tobytes(), str(len(header)))


def test_duplicate_inputs_are_refused():
    doc = orjson.loads(json_request())
    doc["inputs"].append(doc["inputs"][0])
    with pytest.raises(InvalidInput, match="more than once"):
        parse_request(orjson.dumps(doc), None)


def test_response_is_json_unless_binary_is_requested():
    request = parse_request(json_request(), None)
    body, length = encode_response("m", "1", request, {"y": np.array([[0.5, 1.5]], np.float32)})
    assert length is None
    assert orjson.loads(body)["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.5]}
    ]


def test_binary_outputs_follow_the_header():
    doc = orjson.loads(json_request())
    doc["outputs"] = [{"name": "y", "parameters": {"binary_data": True}}, {"name": "z"}]
    request = parse_request(orjson.dumps(doc), None)
    y, z = np.array([1, 2], np.int32), np.array([3.0], np.float32)
    body, length = encode_response("m", "1", request, {"y": y, "z": z})
    header = orjson.loads(body[:length])
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert header["outputs"][1]["data"] == [3.0]
    assert np.frombuffer(body[length:], np.int32).tolist() == [1, 2]


def test_binary_data_output_parameter_makes_all_outputs_binary():
    doc = orjson.loads(json_request())
    doc["parameters"] = {"binary_data_output": True}
    doc["id"] = "req-7"
    request = parse_request(orjson.dumps(doc), None)
    body, length = encode_response("m", "1", request, {"y": np.ones(2, np.float16)})
    header = orjson.loads(body[:length])
    assert header["id"] == "req-7" and header["outputs"][0]["datatype"] == "FP16"
    assert np.frombuffer(body[length:], np.float16).tolist() == [1.0, 1.0]
