"""Column-based signatures: reading them from MLmodel, checking them against the model, and
turning MLflow's four scoring forms into the one input tensor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmodel_server.codecs.mlflow import MalformedRequest, column_tensor, convert_column, decode, to_frame
from mlmodel_server.columns import Column, check_columns
from mlmodel_server.errors import InvalidInput, ModelLoadError
from mlmodel_server.package import check_signature, read_package
from mlmodel_server.runtime.model import ModelConfig, TFLiteModel
from mlmodel_server.runtime.tensors import TensorSpec
from tests.conftest import MODELS, PACKAGES

IRIS = PACKAGES / "iris_classifier"
NAMES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
COLUMNS = tuple(Column(name, "double") for name in NAMES)
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5]]
FEATURES = TensorSpec("features", 0, np.dtype(np.float32), (1, 4), (-1, 4))


def tensor(dtype: type, shape: tuple[int, ...]) -> TensorSpec:
    return TensorSpec("t", 0, np.dtype(dtype), tuple(abs(d) for d in shape), shape)


@pytest.fixture(scope="module")
def iris() -> TFLiteModel:
    package = read_package(IRIS)
    model = TFLiteModel(
        ModelConfig(package.model_path, pool_size=1, input_columns=tuple(package.input_columns))
    )
    model.load()
    check_signature(package, model.inputs, model.outputs)
    yield model
    model.close()


@pytest.fixture(scope="module")
def multi_io() -> TFLiteModel:
    model = TFLiteModel(ModelConfig(MODELS / "multi_io.tflite", pool_size=1))
    model.load()
    yield model
    model.close()


def manifest_with(tmp_path: Path, old: str, new: str) -> Path:
    package = tmp_path / "iris"
    shutil.copytree(IRIS, package)
    text = (package / "MLmodel").read_text()
    assert old in text
    (package / "MLmodel").write_text(text.replace(old, new))
    return package


def test_iris_package_has_the_seeds_column_signature():
    package = read_package(IRIS)
    assert package.input_columns == list(COLUMNS) and package.inputs == []
    assert package.outputs[0].dtype == "float32" and package.outputs[0].shape == (-1, 3)
    assert package.input_example == (IRIS / "input_example.json").resolve()


@pytest.mark.parametrize(
    "old,new,fragment",
    [
        ('"type": "double", "name": "sepal length (cm)"', '"type": "decimal", "name": "x"', "not an MLflow"),
        (
            '{"type": "double", "name": "sepal length (cm)", "required": true}',
            '{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}',
            "mixed",
        ),
    ],
)
def test_manifests_mlflow_would_not_write_are_refused(tmp_path, old, new, fragment):
    with pytest.raises(ModelLoadError, match=fragment):
        read_package(manifest_with(tmp_path, old, new))


@pytest.mark.parametrize(
    "columns,spec,fragment",
    [
        (COLUMNS[:3], FEATURES, "has 3 columns but the model's input 'features' is float32"),
        (COLUMNS, tensor(np.float32, (-1, 2, 2)), "needs \\[batch, 4\\]"),
        ((Column("a", "string"),), tensor(np.float32, (-1,)), "'a' is string"),
        ((Column("a", "double", required=False),), tensor(np.float32, (-1,)), "'a' is optional"),
        ((Column("a", "double"),), tensor(np.int32, (-1, 1)), "'a' is double but the model's tensor"),
        ((Column("a", "double"), Column(None, "double")), tensor(np.float32, (-1, 2)), "all named"),
        ((Column("a", "double"), Column("a", "double")), tensor(np.float32, (-1, 2)), "distinct"),
    ],
)
def test_column_signatures_no_request_could_use_are_refused_at_load(columns, spec, fragment):
    with pytest.raises(ModelLoadError, match=fragment):
        check_columns(columns, [spec], "inputs")


def test_columns_map_onto_one_tensor():
    with pytest.raises(ModelLoadError, match="onto one tensor, but the model has 2 inputs"):
        check_columns(COLUMNS, [FEATURES, FEATURES], "inputs")
    check_columns((Column("n", "long"),), [tensor(np.float32, (-1,))], "inputs")
    check_columns((Column("b", "boolean"), Column("i", "integer")), [tensor(np.int8, (-1, -1))], "inputs")


@pytest.mark.parametrize(
    "kind,values,expected",
    [
        ("double", [1, 2.5, True, None, "3.25"], [1.0, 2.5, 1.0, np.nan, 3.25]),
        ("float", [0.5, "1e3"], [0.5, 1000.0]),
        ("long", [5, 5.0, False, "7", 2**62], [5, 5, 0, 7, 2**62]),
        ("integer", [-(2**31), 2**31 - 1], [-(2**31), 2**31 - 1]),
        ("boolean", [True, 0, 1.0], [True, False, True]),
    ],
)
def test_lossless_conversions_are_made(kind, values, expected):
    np.testing.assert_array_equal(convert_column("c", kind, values), np.array(expected, np.float64))


@pytest.mark.parametrize(
    "kind,value,fragment",
    [
        ("double", "abc", "could not convert"),
        ("double", [1.0], "is not a number"),
        ("double", {"a": 1}, "is not a number"),
        ("float", 1e39, "out of range for a 32-bit float"),
        ("integer", 1.5, "not a whole number"),
        ("integer", 2**31, "out of range for a 32-bit integer"),
        ("long", None, "null is not a number"),
        ("boolean", "false", "is not a boolean"),
        ("boolean", None, "null is not a boolean"),
        ("boolean", 2, "is not a boolean"),
    ],
)
def test_lossy_or_wrong_values_are_refused_naming_the_column(kind, value, fragment):
    with pytest.raises(MalformedRequest, match=f"column 'petal width' to type '{kind}': row 1: .*{fragment}"):
        convert_column("petal width", kind, [0, value])


@pytest.mark.parametrize(
    "key,value",
    [
        ("dataframe_split", {"columns": NAMES, "data": ROWS, "index": [0, 1]}),
        ("dataframe_split", {"columns": [*NAMES[::-1], "extra"], "data": [[*r[::-1], "x"] for r in ROWS]}),
        ("dataframe_records", [dict(zip(NAMES, row, strict=True)) for row in ROWS]),
        ("instances", [dict(zip(NAMES, row, strict=True)) for row in ROWS]),
        ("inputs", {name: [row[i] for row in ROWS] for i, name in enumerate(NAMES)}),
        ("instances", {name: [row[i] for row in ROWS] for i, name in enumerate(NAMES)}),
    ],
)
def test_every_form_gives_the_rows_in_signature_order(key, value):
    array = column_tensor(to_frame(key, value, COLUMNS), COLUMNS, FEATURES)
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, np.array(ROWS, np.float32))


def test_frames_follow_pandas():
    one_row = to_frame("inputs", dict(zip(NAMES, ROWS[0], strict=True)), COLUMNS)
    assert one_row[NAMES[0]] == [5.1]
    assert to_frame("inputs", {"a": [1, 2], "b": 3}, COLUMNS)["b"] == [3, 3]
    assert to_frame("dataframe_records", [{"a": 1}, {"b": 2}], COLUMNS) == {"a": [1, None], "b": [None, 2]}
    assert to_frame("inputs", [[1, 2], [3, 4]], COLUMNS) == {0: [1, 3], 1: [2, 4]}
    assert to_frame("dataframe_split", {"data": [[1, 2]]}, COLUMNS) == {0: [1], 1: [2]}
    assert to_frame("inputs", [1.5, 2.5], (Column("x", "double"),)) == {"x": [1.5, 2.5]}


@pytest.mark.parametrize(
    "key,value,error,fragment",
    [
        ("dataframe_split", [[1]], MalformedRequest, "must be a dictionary"),
        ("dataframe_split", {"data": [[1]], "foo": 1}, MalformedRequest, "Got \\['data', 'foo'\\]"),
        ("dataframe_split", {"columns": ["a"], "data": [[1, 2]]}, MalformedRequest, "row 0 has 2 values"),
        ("dataframe_split", {"columns": ["a", "a"], "data": []}, MalformedRequest, "names a column twice"),
        ("dataframe_split", {"data": [[1]], "index": [0, 1]}, MalformedRequest, "must list 1 labels"),
        ("dataframe_records", {"a": 1}, MalformedRequest, "must be a list of records"),
        ("instances", [{"a": 1}, {"b": 2}], MalformedRequest, "row 0 has no value for \\['b'\\]"),
        ("instances", {"a": [1], "b": [1, 2]}, MalformedRequest, "different lengths"),
        ("inputs", {"a": [1], "b": [1, 2]}, InvalidInput, "different lengths"),
        ("inputs", [[1, 2], [3]], MalformedRequest, "rows have different lengths"),
    ],
)
def test_malformed_frames_are_refused(key, value, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        to_frame(key, value, COLUMNS)
    assert (type(caught.value) is MalformedRequest) == (error is MalformedRequest)


def test_missing_columns_are_named_and_extra_ones_reported():
    frame = {"sepal length (cm)": [1.0], "sepal width (cm)": [1.0], "petal length (cm)": [1.0], "x": [1]}
    with pytest.raises(
        InvalidInput, match=r"missing inputs \['petal width \(cm\)'\]. .*extra inputs: \['x'\]"
    ):
        column_tensor(frame, COLUMNS, FEATURES)


def test_a_bad_value_is_reported_before_a_missing_column_as_mlflow_does():
    frame = {"sepal length (cm)": ["abc"]}
    with pytest.raises(MalformedRequest, match="'sepal length \\(cm\\)'"):
        column_tensor(frame, COLUMNS, FEATURES)


def test_unnamed_columns_are_taken_by_position():
    columns = (Column(None, "double"), Column(None, "long"))
    np.testing.assert_array_equal(
        column_tensor({"a": [1.5], "b": [2], "c": ["ignored"]}, columns, tensor(np.float32, (-1, 2))),
        [[1.5, 2.0]],
    )
    with pytest.raises(InvalidInput, match="declares 2 inputs but the provided value only has 1"):
        column_tensor({0: [1.0]}, columns, tensor(np.float32, (-1, 2)))
    with pytest.raises(MalformedRequest, match="column 'column 1' to type 'long'"):
        column_tensor({0: [1.0], 1: [0.5]}, columns, tensor(np.float32, (-1, 2)))


def test_one_column_feeds_a_rank_one_tensor():
    array = column_tensor({"x": [1, 2, 3]}, (Column("x", "long"),), tensor(np.int64, (-1,)))
    assert array.shape == (3,) and array.dtype == np.int64


def test_decode_on_the_iris_model(iris):
    inputs = decode(iris, "dataframe_split", {"columns": NAMES, "data": ROWS})
    np.testing.assert_array_equal(inputs["features"], np.array(ROWS, np.float32))


def test_input_example_is_a_valid_dataframe_split(iris):
    example = json.loads((IRIS / "input_example.json").read_text())
    assert decode(iris, "dataframe_split", example)["features"].shape == (3, 4)
    serving = json.loads((IRIS / "serving_input_example.json").read_text())
    assert decode(iris, *next(iter(serving.items())))["features"].shape == (3, 4)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from([*NAMES, "a", "b"]), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs"]), value=JSON)
def test_any_json_is_an_array_or_a_client_error(iris, key, value):
    """Whatever the body holds, the answer is the input tensor or a 400, never a 500."""
    try:
        array = decode(iris, key, value)["features"]
    except InvalidInput:
        return
    assert array.dtype == np.float32 and array.ndim == 2 and array.shape[1] == 4


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs"]), value=JSON)
def test_any_json_for_a_tensor_model_is_tensors_or_a_client_error(multi_io, key, value):
    try:
        inputs = decode(multi_io, key, value)
    except InvalidInput:
        return
    assert all(array.dtype == multi_io.input_spec(name).dtype for name, array in inputs.items())
