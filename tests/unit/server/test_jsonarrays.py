"""codecs/jsonarrays.py: large JSON arrays of numbers straight into NumPy.

The contract: `loads(body, keep)` answers what `orjson.loads(body)` answers, except that an
array at a kept path may come as `np.asarray(<orjson's list>)`, with the same dtype, shape and
bits. Everything here compares against that reference, with the size thresholds lowered so
small documents exercise the fast path too.
"""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlmodel_server.codecs import jsonarrays, oip
from mlmodel_server.codecs.mlflow import decode, parse_body
from mlmodel_server.errors import InvalidInput

PROPERTY = settings(
    max_examples=400,
    deadline=None,
    # `small` only lowers two constants, the same for every example.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def small(monkeypatch):
    """Thresholds at their lowest, so every array of two or more elements is taken."""
    monkeypatch.setattr(jsonarrays, "MIN_BODY", 0)
    monkeypatch.setattr(jsonarrays, "MIN_ARRAY", 2)


def same(got, want) -> bool:
    """Equal as JSON values, where an ndarray of `got` must be np.asarray of `want`'s list
    bit for bit (NaN-free: JSON has none)."""
    if isinstance(got, np.ndarray):
        ref = np.asarray(want)
        return got.dtype == ref.dtype and got.shape == ref.shape and got.tobytes() == ref.tobytes()
    if isinstance(got, dict):
        return isinstance(want, dict) and list(got) == list(want) and all(same(got[k], want[k]) for k in got)
    if isinstance(got, list):
        return isinstance(want, list) and len(got) == len(want) and all(map(same, got, want))
    return type(got) is type(want) and got == want


def arrays_in(value) -> int:
    if isinstance(value, np.ndarray):
        return 1
    if isinstance(value, dict):
        return sum(arrays_in(v) for v in value.values())
    if isinstance(value, list):
        return sum(arrays_in(v) for v in value)
    return 0


def check(body: bytes, keep=lambda path: True) -> object:
    got = jsonarrays.loads(body, keep)
    assert same(got, orjson.loads(body)), body[:300]
    return got


# -- what is taken, and what it becomes -------------------------------------------------


@pytest.mark.usefixtures("small")
@pytest.mark.parametrize(
    "text,dtype",
    [
        ("[1, 2, 3]", np.int64),  # integers stay integers, as np.asarray makes them
        ("[1, 2.5, -0.0, 1e-5, 1E5, 2.2250738585072011e-308, 4.9e-324, 1e-400]", np.float64),
        ("[[1, 2], [3, 4.5], [5, 6]]", np.float64),
        ("[[[1], [2]], [[3], [4]]]", np.int64),
        ("[-9223372036854775808, 9223372036854775807]", np.int64),
        ("[9007199254740991, 0.5]", np.float64),  # below 2**53: exact through a double
        ("[0.1, 0.2, 0.30000000000000004, 9007199254740991.0, -9007199254740991.0]", np.float64),
        (" [ 1 ,\n\t2 ,\r\n 3 ] ", np.int64),
    ],
)
def test_regular_numeric_arrays_come_as_numpy(text, dtype):
    got = check(b'{"data": %s}' % text.encode())
    assert isinstance(got["data"], np.ndarray) and got["data"].dtype == dtype


@pytest.mark.usefixtures("small")
@pytest.mark.parametrize(
    "text",
    [
        "[[1, 2], [3]]",  # ragged
        "[[1, 2], [3, 4, 5]]",
        "[[1, 2, 3], [4]]",
        "[5, [6]]",  # a number beside an array, with the count of a regular shape
        "[[5], 6]",
        "[[], [1]]",
        "[[[1, 2]], [[3], [4]]]",
        "[[1, 2], [[3, 4]]]",
        "[true, false]",  # booleans: orjson's lists, as before
        "[1, true]",
        "[1, null]",
        '[1, "2"]',
        "[1, {}]",
        "[[1, 2], {}]",
        "[]",
        "[[], []]",
        "[18446744073709551615, 1]",  # uint64 for np.asarray: left to it
        "[9223372036854775808, 0.5]",
        "[123456789012345678901234567890, 1]",  # orjson reads it as a float
        "[9007199254740993, 0.5]",  # beyond 2**53 with a float: left as it was
        "[1.7976931348623157e308, 1.5]",  # so is any float that large
    ],
)
def test_anything_irregular_or_not_numeric_stays_as_orjson_reads_it(text):
    got = check(b'{"data": %s, "more": [%s, 1]}' % (text.encode(), text.encode()))
    assert not isinstance(got["data"], np.ndarray)


@pytest.mark.parametrize(
    "text",
    [
        "[NaN, 1]",
        "[Infinity, 1]",
        "[-Infinity, 1]",
        "[1e400, 1]",  # orjson: "number is infinity when parsed as double"
        "[1., 2]",
        "[.5, 2]",
        "[01, 2]",
        "[1, 2,]",
        "[1 2]",
        "[1,, 2]",
        "[[1, 2], [3, 4]",
        "[1, 2]]",
        "[+1, 2]",
        "[0x10, 2]",
        "[1, 2] 3",
        "-[1, 2]",
        "[\x01, 2]",
    ],
)
def test_invalid_json_fails_with_orjsons_own_error(small, text):
    body = b'{"data": %s}' % text.encode()
    with pytest.raises(orjson.JSONDecodeError) as ours:
        jsonarrays.loads(body)
    with pytest.raises(orjson.JSONDecodeError) as theirs:
        orjson.loads(body)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.usefixtures("small")
def test_strings_escapes_and_placeholder_lookalikes_are_left_alone():
    tricky = [
        rb'{"id": "a \"[1, 2, 3]\" b", "data": [1, 2, 3]}',
        rb'{"id": "ends in a backslash \\", "data": [1, 2, 3], "x": "[4, 5]"}',
        rb'{"id": "\\\"[1, 2]", "data": [[1, 2], [3, 4]]}',
        b'{"data": [1, 2], "n": %d}' % jsonarrays.PLACEHOLDER,  # the client's own number
        b'{"data": [%d, %d], "n": [1, 2]}' % (jsonarrays.PLACEHOLDER, jsonarrays.PLACEHOLDER - 1),
        b'{"a": %d, "data": [1, 2]}' % (jsonarrays.PLACEHOLDER - 1),
        b'{"data": [1, 2], "data": [3, 4, 5]}',  # duplicate keys: the last wins, as in orjson
        b'{"data": [1, 2], "x": 1, "data": 7}',
        b'{"d": 5, "e": [1, 2], "d": [3, 4]}',
        b'[[1, 2], "s", [3, 4]]',
        b"[[1, 2], [3, 4]] ",
        b"[1, 2]",
        '{"caf\u00e9": [1, 2], "\u2603": "[3, 4]"}'.encode(),
    ]
    for body in tricky:
        check(body)


@pytest.mark.usefixtures("small")
def test_only_kept_paths_get_arrays():
    spec = b'{"name": "x", "shape": [2, 2], "data": [[1, 2], [3, 4.5]], "parameters": {"p": [1, 2]}}'
    body = b'{"inputs": [%s]}' % spec
    got = check(body, oip._input_data)
    assert arrays_in(got) == 1 and isinstance(got["inputs"][0]["data"], np.ndarray)
    assert got["inputs"][0]["shape"] == [2, 2] and got["inputs"][0]["parameters"] == {"p": [1, 2]}
    mixed = check(b'{"other": [1, 2.5]}', lambda path: False)  # orjson's ints and floats, unchanged
    assert mixed == {"other": [1, 2.5]} and type(mixed["other"][0]) is int


@pytest.mark.usefixtures("small")
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_any_buffer_type(kind):
    got = jsonarrays.loads(kind(b'{"data": [[1.5, 2], [3, 4]]}'))
    np.testing.assert_array_equal(got["data"], [[1.5, 2], [3, 4]])


def test_small_bodies_go_to_orjson_unchanged():
    assert jsonarrays.loads(b'{"data": [1, 2, 3]}') == {"data": [1, 2, 3]}


# -- property: any document of numbers, arrays, objects and strings -----------------------

numbers = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
leaves = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=5))


def regular(draw_shape, leaf):
    return draw_shape.flatmap(
        lambda shape: st.lists(leaf, min_size=math.prod(shape), max_size=math.prod(shape)).map(
            lambda flat: np.array(flat, dtype=object).reshape(shape).tolist()
        )
    )


shapes = st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=4)
values = st.recursive(
    st.one_of(leaves, regular(shapes, numbers)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@PROPERTY
@given(values, st.sampled_from([None, 0, 2]))
def test_any_document_reads_as_orjson_reads_it(small, value, indent):
    try:
        body = json.dumps(value, indent=indent).encode()
    except ValueError:
        return
    try:
        want = orjson.loads(body)
    except orjson.JSONDecodeError:  # orjson refuses a few numbers json writes (1e400-like)
        with pytest.raises(orjson.JSONDecodeError):
            jsonarrays.loads(body)
        return
    assert same(jsonarrays.loads(body), want)


# -- through the OIP and MLflow decoders ----------------------------------------------------


def oip_body(data, datatype="FP32", shape=(1, 64, 64, 3)) -> bytes:
    spec = {"name": "x", "datatype": datatype, "shape": list(shape), "data": data}
    return orjson.dumps({"inputs": [spec]}, option=orjson.OPT_SERIALIZE_NUMPY)


def reference_tensor(body: bytes, monkeypatch) -> np.ndarray | str:
    """What the decoder answered before this module: all of it read by orjson."""
    with monkeypatch.context() as patched:
        patched.setattr(jsonarrays, "MIN_BODY", 1 << 60)
        try:
            return oip.parse_request(body, None).inputs["x"]
        except InvalidInput as exc:
            return exc.message


def decoded(body: bytes) -> np.ndarray | str:
    try:
        return oip.parse_request(body, None).inputs["x"]
    except InvalidInput as exc:
        return exc.message


def assert_same_tensor(got, want) -> None:
    if isinstance(want, str):
        assert got == want
    else:
        assert isinstance(got, np.ndarray)
        assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


IMAGE = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)


@pytest.mark.parametrize(
    "data,datatype",
    [
        (IMAGE.ravel(), "FP32"),  # flat, float32's shortest text
        (IMAGE, "FP32"),  # nested
        (IMAGE.astype(np.float64) / 3, "FP32"),  # 17 significant digits
        (IMAGE.astype(np.float64) / 3, "FP64"),
        (IMAGE.astype(np.float64) / 3, "FP16"),
        ((IMAGE * 1e6).astype(np.int64), "FP32"),  # integers for a float tensor
        ((IMAGE * 100).astype(np.int64), "INT8"),
        ((IMAGE * 1000).astype(np.int64), "INT8"),  # out of range: the same 400
        ((IMAGE * 1000).astype(np.int64), "INT16"),
        ((IMAGE + 1).astype(np.int64), "UINT8"),
        ((IMAGE * 1000).astype(np.int64), "UINT8"),  # negative for an unsigned tensor
        (IMAGE, "INT32"),  # floats for an integer tensor: the same 400
        (IMAGE > 0, "FP32"),  # booleans: through orjson, as before
        (IMAGE > 0, "BOOL"),
        (IMAGE.astype(np.float64) * 1e39, "FP32"),  # beyond float32: "a value is out of range"
        (IMAGE.astype(np.float64) * 2.0**60, "FP32"),  # beyond 2**53: through orjson
        ((IMAGE * 2**62).astype(np.int64), "FP32"),  # integers beyond 2**53 for a float tensor
        ((IMAGE + 1).astype(np.int64) * 2**62, "UINT64"),
        (IMAGE, "BYTES"),  # numbers for BYTES: "got float", as before
        ((IMAGE * 100).astype(np.int64), "BYTES"),
    ],
)
def test_oip_tensors_are_bit_identical_to_the_orjson_path(monkeypatch, data, datatype):
    body = oip_body(data, datatype)
    assert len(body) > jsonarrays.MIN_BODY
    assert_same_tensor(decoded(body), reference_tensor(body, monkeypatch))


def test_oip_ragged_and_miscounted_data_are_400_naming_the_input(monkeypatch):
    rows = IMAGE.reshape(64 * 64, 3).tolist()
    ragged = [*rows[:-1], [1.0, 2.0]]
    body = oip_body(ragged, shape=(64 * 64 - 1, 3))
    message = decoded(body)
    assert isinstance(message, str) and message.startswith("input 'x': data does not fit FP32")
    assert message == reference_tensor(body, monkeypatch)
    short = oip_body(IMAGE.ravel()[:-1])
    assert decoded(short) == "input 'x': 12287 elements in 'data' but shape [1, 64, 64, 3] needs 12288"


@pytest.mark.parametrize("text", [b"NaN", b"Infinity", b"1e400"])
def test_oip_nan_and_infinity_are_invalid_json(text):
    body = oip_body(IMAGE.ravel()).replace(b"[0.", b"[" + text + b",0.", 1)
    with pytest.raises(InvalidInput, match="request body is not valid JSON"):
        oip.parse_request(body, None)


def test_oip_empty_data_is_unchanged():
    request = oip.parse_request(oip_body([], shape=(0,)), None)
    assert request.inputs["x"].shape == (0,) and request.inputs["x"].dtype == np.float32


class TensorModel:
    """What codecs/mlflow.py reads of a model with a tensor signature."""

    class config:
        input_columns = ()

    def __init__(self, shape=(-1, 64, 64, 3)) -> None:
        from mlmodel_server.runtime.tensors import TensorSpec

        self.inputs = [TensorSpec("x", 0, np.dtype(np.float32), (1, 64, 64, 3), shape)]

    def input_spec(self, name: str):
        return next(t for t in self.inputs if t.name == name)


@pytest.mark.parametrize(
    "doc",
    [
        {"inputs": IMAGE},
        {"inputs": {"x": IMAGE}},
        {"instances": IMAGE},
        {"instances": [{"x": IMAGE[0]}]},
        {"dataframe_split": {"columns": ["x"], "data": [[IMAGE[0]]]}},
        {"dataframe_split": {"columns": ["x"], "data": [[IMAGE[0]]], "index": [0]}},
        {"dataframe_records": [{"x": IMAGE[0]}]},
        {"inputs": IMAGE.astype(np.float64) / 3},
    ],
)
def test_mlflow_forms_give_the_same_tensors_as_before(monkeypatch, doc):
    body = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    model = TensorModel()
    got = decode(model, *parse_body(body, tensors=True))["x"]
    want = decode(model, *parse_body(body))["x"]  # orjson alone, as column-based models are
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape == (1, 64, 64, 3)
    assert got.tobytes() == want.tobytes()
    assert arrays_in(parse_body(body, tensors=True)[1]) == 1


def test_mlflow_dataframe_split_of_plain_numbers_keeps_its_errors():
    body = orjson.dumps({"dataframe_split": {"data": IMAGE.ravel()}}, option=orjson.OPT_SERIALIZE_NUMPY)
    with pytest.raises(InvalidInput, match="must be a list of rows"):
        decode(TensorModel(), *parse_body(body, tensors=True))
