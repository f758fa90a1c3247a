"""The self-test: what the server asks its model before it calls itself ready, how it judges
the answer, and how a later re-check turns readiness off and on again."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlmodel_server import selftest
from mlmodel_server.app import create_app
from mlmodel_server.errors import ModelLoadError
from mlmodel_server.package import model_package, read_package
from mlmodel_server.runtime.model import ModelConfig
from mlmodel_server.runtime.tensors import Quantization, TensorSpec
from mlmodel_server.selftest import SelfTestFailed
from mlmodel_server.server import assemble
from tests.conftest import MODELS, PACKAGES

FRUIT, IRIS = PACKAGES / "fruit_classifier", PACKAGES / "iris_classifier"


def spec(
    name: str, dtype: str, shape: tuple[int, ...], quantization: Quantization | None = None
) -> TensorSpec:
    return TensorSpec(name, 0, np.dtype(dtype), tuple(max(d, 1) for d in shape), shape, quantization)


def fruit_copy(tmp_path: Path, output_example: object = None, manifest_extra: str = "") -> Path:
    """The fruit package, with an output_example file and manifest lines of the test's own."""
    root = tmp_path / "fruit"
    shutil.copytree(FRUIT, root)
    if output_example is not None:
        (root / "output_example.json").write_text(json.dumps(output_example))
    with (root / "MLmodel").open("a") as manifest:
        manifest.write(manifest_extra)
    return root


def fruit_answer(expected: dict) -> list:
    return expected["packages"]["fruit_classifier"]["input_example_outputs"]["probabilities"]


def served(root: Path):  # type: ignore[no-untyped-def]
    package = read_package(root)
    config = ModelConfig(package.model_path, package.label_path, name="fruit", pool_size=1)
    return assemble(config, package=package)


# -- what is asked -------------------------------------------------------------------


def test_a_synthetic_input_is_one_batch_element_of_a_neutral_value():
    inputs = selftest.synthetic_inputs(
        [
            spec("image", "uint8", (1, 8, 8, 3)),
            spec("features", "float32", (-1, 4)),
            spec("ids", "int32", (1, -1)),
            spec("quantized", "uint8", (1, 2), Quantization(0.5, 3)),
        ]
    )
    assert {name: (a.shape, a.dtype.name) for name, a in inputs.items()} == {
        "image": ((1, 8, 8, 3), "uint8"),
        "features": ((1, 4), "float32"),
        "ids": ((1, 1), "int32"),
        "quantized": ((1, 2), "uint8"),
    }
    # a grey image, zeros, and what the quantized tensor calls 0
    assert (inputs["image"] == 128).all() and not inputs["features"].any() and not inputs["ids"].any()
    assert (inputs["quantized"] == 3).all()


def test_every_fixture_model_passes_a_synthetic_self_test():
    for path in sorted(MODELS.glob("*.tflite")):
        dataplane = assemble(ModelConfig(path, name=path.stem, pool_size=1))
        try:
            assert dataplane.results[path.stem].passed and dataplane.results[path.stem].check == "synthetic"
            assert dataplane.ready
        finally:
            dataplane.close()


def test_the_packages_tensor_example_is_what_is_asked():
    dataplane = served(FRUIT)
    try:
        asked = dataplane.selftests["fruit"].inputs["image"]
        assert asked.shape == (1, 32, 32, 3) and (asked[..., 0] == 255).all()  # the red example
        assert dataplane.results["fruit"].check == "input_example"
    finally:
        dataplane.close()


def test_a_dataframe_example_is_read_as_mlflow_saved_it():
    package = read_package(IRIS)
    assert package.input_example_field == "dataframe_split"
    config = ModelConfig(
        package.model_path, name="iris", pool_size=1, input_columns=tuple(package.input_columns)
    )
    dataplane = assemble(config, package=package)
    try:
        rows = json.loads((IRIS / "input_example.json").read_text())["data"]
        np.testing.assert_allclose(dataplane.selftests["iris"].inputs["features"], rows, rtol=1e-6)
    finally:
        dataplane.close()


# -- what is expected ----------------------------------------------------------------


def test_the_right_output_example_passes(tmp_path, expected):
    root = fruit_copy(
        tmp_path, {"predictions": fruit_answer(expected)}, "output_example: output_example.json\n"
    )
    dataplane = served(root)
    try:
        assert dataplane.results["fruit"].check == "output_example" and dataplane.ready
    finally:
        dataplane.close()


def test_a_wrong_model_in_the_right_shape_is_refused_naming_output_and_difference(tmp_path):
    lime = [[0.0024662, 0.9949448, 0.0024662, 0.0001228]]  # what a lime classifier would answer
    root = fruit_copy(tmp_path, {"predictions": lime}, "output_example: output_example.json\n")
    with pytest.raises(SelfTestFailed) as refused:
        served(root)
    assert str(refused.value) == (
        "self-test (output_example): output 'probabilities' differs from the output_example by 0.9925 "
        "at [0, 1] (answered 0.00246622, expected 0.994945; tolerance 0.001)"
    )


def test_the_tolerance_is_the_packages(tmp_path, expected):
    off = [[p + 0.004 for p in fruit_answer(expected)[0]]]
    manifest = "output_example:\n  artifact_path: output_example.json\n  tolerance: 0.005\n"
    dataplane = served(fruit_copy(tmp_path, {"predictions": off}, manifest))
    dataplane.close()
    with pytest.raises(SelfTestFailed, match=r"by 0\.004 .*tolerance 0\.001"):
        served(fruit_copy(tmp_path / "strict", {"predictions": off}, "output_example: output_example.json\n"))


@pytest.mark.parametrize(
    ("manifest", "answer", "says"),
    [
        ("output_example: output_example.json\n", {"outputs": []}, 'must be {"predictions": ...}'),
        ("output_example: output_example.json\n", {"predictions": {"logits": [[1]]}}, "unknown outputs"),
        ("output_example: output_example.json\n", {"predictions": [[1, 2]]}, "has shape [1, 4]"),
        ("output_example: {tolerance: 1}\n", None, "output_example needs an artifact_path"),
        ("output_example: {artifact_path: o.json, tolerance: -1}\n", None, "must be a number >= 0"),
        ("output_example: ../outside.json\n", None, "points outside the package"),
    ],
)
def test_a_bad_output_example_is_refused_in_one_line(tmp_path, manifest, answer, says):
    root = fruit_copy(tmp_path, answer, manifest)
    with pytest.raises(ModelLoadError) as refused:
        served(root)
    assert says in str(refused.value)


def test_an_output_example_needs_an_input_example(tmp_path):
    root = tmp_path / "bare"
    root.mkdir()
    shutil.copy(FRUIT / "model.tflite", root)
    (root / "MLmodel").write_text("flavors: {tflite: {model_path: model.tflite}}\noutput_example: o.json\n")
    with pytest.raises(ModelLoadError, match="output_example needs an input_example"):
        read_package(root)


def test_an_input_example_that_does_not_fit_the_model_is_refused(tmp_path):
    root = fruit_copy(tmp_path)
    (root / "input_example.json").write_text(json.dumps({"inputs": {"image": [[[[1, 2, 3]]]]}}))
    with pytest.raises(SelfTestFailed, match=r"input_example\.json does not fit the model: .*shape"):
        served(root)


# -- which package speaks for a --model ------------------------------------------------


def test_a_package_root_speaks_only_for_the_model_its_manifest_describes(tmp_path):
    assert model_package(FRUIT, FRUIT / "model.tflite") == read_package(FRUIT)
    other = fruit_copy(tmp_path)
    shutil.copy(MODELS / "classifier_float32.tflite", other / "other.tflite")
    assert model_package(other, other / "other.tflite") is None
    assert model_package(MODELS, MODELS / "multi_io.tflite") is None  # no MLmodel: a bare file


# -- readiness and re-checks ----------------------------------------------------------


def multi_io():  # type: ignore[no-untyped-def]
    return assemble(ModelConfig(MODELS / "multi_io.tflite", name="multi_io", pool_size=1))


def test_the_ready_endpoints_follow_the_last_result():
    dataplane = multi_io()
    try:
        client = TestClient(create_app(dataplane))
        result = dataplane.results["multi_io"]
        assert client.get("/v2/health/ready").status_code == 200
        dataplane.results["multi_io"] = selftest.Result(False, result.check, result.at, 30.0, "no answer")
        assert client.get("/v2/health/ready").status_code == 503
        assert client.get("/v2/models/multi_io/ready").json() == {"name": "multi_io", "ready": False}
        assert client.get("/ping").status_code == 404
        report = client.get("/v1/selftest").json()
        assert report["ready"] is False
        assert report["models"][0] | {"checkedAt": ""} == {
            "name": "multi_io",
            "version": "1",
            "passed": False,
            "check": "synthetic",
            "checkedAt": "",
            "durationSeconds": 30.0,
            "message": "no answer",
        }
        assert (
            'mlmodel_selftest_passed{check="synthetic",model="multi_io"} 0.0' in client.get("/metrics").text
        )
    finally:
        dataplane.close()


def test_a_model_that_stops_answering_turns_unready_and_ready_again_when_it_answers():
    dataplane = multi_io()
    model = dataplane.models["multi_io"]
    real_predict, hang = model.predict, asyncio.Event()

    async def stuck(*args, **kwargs):  # type: ignore[no-untyped-def]
        await hang.wait()
        return await real_predict(*args, **kwargs)

    async def scenario() -> list[bool]:
        seen = []
        task = asyncio.create_task(selftest.recheck(dataplane, period=0.05, timeout=0.1))
        model.predict = stuck  # type: ignore[method-assign]
        await asyncio.sleep(0.4)
        seen.append(dataplane.ready)
        hang.set()
        model.predict = real_predict  # type: ignore[method-assign]
        await asyncio.sleep(0.4)
        seen.append(dataplane.ready)
        task.cancel()
        return seen

    try:
        assert asyncio.run(scenario()) == [False, True]
        assert dataplane.results["multi_io"].passed
    finally:
        dataplane.close()


def test_a_recheck_asks_nothing_while_requests_are_answered():
    dataplane = multi_io()
    model = dataplane.models["multi_io"]
    request = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.int32)}

    async def scenario() -> int:
        task = asyncio.create_task(selftest.recheck(dataplane, period=0.05))
        for _ in range(8):
            await model.predict(request)  # traffic between every look
            await asyncio.sleep(0.05)
        task.cancel()
        return model.stats.success.count

    try:
        first = dataplane.results["multi_io"].at
        assert asyncio.run(scenario()) == 8  # only the requests: no self-test inference
        assert dataplane.results["multi_io"].at == first
    finally:
        dataplane.close()
