"""The runtime layer: interpreter choice, model loading, signature checks, the pool."""

from __future__ import annotations

import asyncio
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

from mlmodel_server.errors import InvalidInput
from mlmodel_server.runtime import interpreter
from mlmodel_server.runtime.model import ModelConfig, TFLiteModel
from mlmodel_tflite import fbmodel
from mlmodel_tflite.metadata import parse_labels, read_metadata
from tests.conftest import MODELS


@pytest.fixture
def multi_io():
    model = TFLiteModel(ModelConfig(MODELS / "multi_io.tflite", name="multi_io", pool_size=2))
    model.load()
    yield model
    model.close()


def test_litert_is_preferred():
    assert interpreter.interpreter_class()[0] == "litert"


def test_tflite_runtime_is_the_fallback(monkeypatch):
    """Where LiteRT is missing (ARM edge images), tflite_runtime's class is used."""
    fake = types.ModuleType("tflite_runtime.interpreter")
    fake.Interpreter = type("Interpreter", (), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", types.ModuleType("tflite_runtime"))
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", fake)
    interpreter.interpreter_class.cache_clear()
    try:
        assert interpreter.interpreter_class() == ("tflite_runtime", fake.Interpreter)
        monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
        interpreter.interpreter_class.cache_clear()
        with pytest.raises(interpreter.RuntimeUnavailable, match="install ai-edge-litert"):
            interpreter.interpreter_class()
    finally:
        interpreter.interpreter_class.cache_clear()


def test_signature_and_dynamic_batch(multi_io):
    a, b = multi_io.inputs
    assert (a.name, a.shape_signature, a.is_dynamic) == ("a", (-1, 4), True)
    assert (b.name, b.dtype, b.is_dynamic) == ("b", np.dtype(np.int32), False)
    batch = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = asyncio.run(multi_io.predict({"a": batch, "b": np.ones((1, 4), np.int32)}))
    np.testing.assert_array_equal(out["sum"], batch + 1)
    single = asyncio.run(multi_io.predict({"a": batch[:1], "b": np.ones((1, 4), np.int32)}, ["sum"]))
    assert list(single) == ["sum"] and single["sum"].shape == (1, 4)


@pytest.mark.parametrize(
    "inputs,message",
    [
        ({"a": np.zeros((1, 4), np.float64), "b": np.zeros((1, 4), np.int32)}, "datatype float64"),
        ({"a": np.zeros((1, 3), np.float32), "b": np.zeros((1, 4), np.int32)}, "shape [1, 3]"),
        ({"a": np.zeros((1, 4), np.float32)}, "missing input tensor(s): b"),
    ],
)
def test_inputs_are_checked_before_the_interpreter(multi_io, inputs, message):
    with pytest.raises(
        InvalidInput, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        multi_io.validate(inputs)


def test_pool_runs_requests_in_parallel_threads(multi_io):
    """Many concurrent predictions each get their own correct answer."""

    async def many() -> list[bool]:
        async def one(k: int) -> bool:
            out = await multi_io.predict(
                {"a": np.full((1, 4), k, np.float32), "b": np.zeros((1, 4), np.int32)}
            )
            return bool((out["sum"] == k).all())

        return await asyncio.gather(*(one(k) for k in range(64)))

    assert all(asyncio.run(many()))
    assert multi_io.pool_size == 2


def test_metadata_reader_finds_labels_and_normalisation():
    meta = read_metadata((MODELS / "classifier_metadata.tflite").read_bytes())
    assert meta is not None and "mean colour" in meta.description
    assert meta.inputs[0].mean == [127.5] and meta.inputs[0].std == [127.5]
    assert meta.outputs[0].labels == ["red", "green", "blue", "black"]
    assert read_metadata((MODELS / "classifier_uint8.tflite").read_bytes()) is None


def test_labels_keep_inner_blank_lines_and_drop_trailing_ones():
    assert parse_labels("a\n\n c \n\n\n") == ["a", "", "c"]


@pytest.mark.parametrize(
    "pool_size,num_threads,solo,want",
    [
        (2, 1, None, 2),
        (3, 1, None, 3),
        (1, 1, None, 0),
        (2, 1, 0, 0),
        (2, 1, 1, 0),
        (1, 1, 2, 2),
        (2, 2, None, 4),
    ],
)
def test_solo_interpreter_threads(pool_size, num_threads, solo, want):
    config = ModelConfig(
        MODELS / "multi_io.tflite", pool_size=pool_size, num_threads=num_threads, solo_threads=solo
    )
    model = TFLiteModel(config)
    model.load()
    try:
        assert model.solo_threads == want and model.pool_size == pool_size
    finally:
        model.close()


def test_lone_requests_run_solo_and_concurrent_ones_on_the_pool(multi_io):
    """Sequential requests find the pool idle; a burst spreads over the pooled interpreters."""
    threads: list[str] = []
    multi_io.observe_inference(lambda _: threads.append(threading.current_thread().name))

    async def predict(k: int, rows: int = 1) -> bool:
        inputs = {"a": np.full((rows, 4), k, np.float32), "b": np.zeros((1, 4), np.int32)}
        out = await multi_io.predict(inputs)
        return out["sum"].shape == (rows, 4) and bool((out["sum"] == k).all())

    async def sequential() -> list[bool]:
        return [await predict(k, rows=1 + k % 3) for k in range(6)]

    async def burst() -> list[bool]:
        return await asyncio.gather(*(predict(k) for k in range(32)))

    assert all(asyncio.run(sequential()))
    assert set(threads) == {"tflite-solo_0"}
    threads.clear()
    assert all(asyncio.run(burst()))
    assert threads.count("tflite-solo_0") == 1 and len(set(threads)) > 1


def _fixture_models(published: Path) -> list[Path]:
    return [*sorted(MODELS.glob("*.tflite")), *sorted(published.glob("*.tflite"))]


def test_flatbuffer_reading_agrees_with_the_server_on_classes(published_models: Path) -> None:
    """The operator refuses a labels file by this reading, so it must never disagree with the
    model the server loads: where it names K classes, LiteRT sees a classifier of K."""
    named = {}
    for path in _fixture_models(published_models):
        model = TFLiteModel(ModelConfig(path, name=path.stem))
        model.load()
        try:
            classes = fbmodel.classifier_classes(path.read_bytes())
            if classes is not None:
                assert (model.kind, model.outputs[0].shape[-1]) == ("classifier", classes), path.name
            named[path.name] = classes
        finally:
            model.close()
    labels = parse_labels((MODELS / "classifier_labels.txt").read_text())
    assert named["classifier_uint8.tflite"] == len(labels)
    assert named["detector_ssd.tflite"] is None and named["multi_io.tflite"] is None


@pytest.mark.parametrize(
    "data",
    [
        b"this is a text file, not a model\n",
        b"\x1c\x00\x00\x00TFL3 and then noise",
        b"\xff\xff\xff\x7fTFL3" * 8,  # a root offset past the end
    ],
)
def test_bytes_that_are_not_a_readable_model_have_no_classes(data: bytes) -> None:
    assert fbmodel.classifier_classes(data) is None
    assert fbmodel.is_tflite(data) == (data[4:8] == b"TFL3")
