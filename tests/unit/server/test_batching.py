"""Adaptive batching (runtime/batching.py): who waits, what goes together, who gets which rows."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from mlmodel_server.runtime.batching import Batcher, batchable
from mlmodel_server.runtime.interpreter import new_interpreter
from mlmodel_server.runtime.model import ModelConfig, TFLiteModel
from mlmodel_server.runtime.stats import Phases
from mlmodel_server.runtime.tensors import TensorSpec
from tests.conftest import MODELS

NO_PHASES = Phases(0, 0, 0, 0)


class GatedPool:
    """A pool of `size` interpreters whose invokes finish when the test opens the gate;
    output k of a batch is its input (index 0) times k + 1."""

    def __init__(self, size: int = 1, fail: bool = False) -> None:
        self.size, self.fail = size, fail
        self.gate = asyncio.Event()
        self.batches: list[int] = []  # rows per invoke, in order
        self.in_flight = 0

    async def run(self, inputs: Sequence[tuple[int, np.ndarray]], outputs: Sequence[int]):
        rows = dict(inputs)[0]
        self.batches.append(len(rows))
        self.in_flight += 1
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        if self.fail:
            raise RuntimeError("invoke failed")
        return [rows * (k + 1) for k in outputs], NO_PHASES


def row(value: float) -> list[tuple[int, np.ndarray]]:
    return [(0, np.full((1, 2), value, np.float32))]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def behind_a_busy_pool(
    batcher: Batcher, values: Sequence[float], outputs: Sequence[int] = (0,), busy_value: float = 0
) -> tuple[asyncio.Future, list[asyncio.Future]]:
    """One request (row `busy_value`, output 0) that takes the one-interpreter pool, then a
    request per value that finds it busy and waits; the gate is still closed on return."""
    busy = asyncio.ensure_future(batcher.run(row(busy_value), [0]))
    await _settle()
    waiting = [asyncio.ensure_future(batcher.run(row(v), outputs)) for v in values]
    await _settle()
    return busy, waiting


def test_a_lone_request_runs_at_once_alone():
    """Nothing in flight: the request runs at once, with only the outputs it asked for."""

    async def scenario():
        pool = GatedPool()
        pool.gate.set()
        arrays, _ = await Batcher(pool, [0, 1], 8, 0).run(row(3), [1])  # type: ignore[arg-type]
        return pool.batches, arrays

    batches, arrays = asyncio.run(scenario())
    assert batches == [1]
    assert arrays[0].tolist() == [[6, 6]]


def test_requests_that_find_the_pool_busy_go_as_one_batch_and_get_their_own_rows():
    async def scenario():
        pool = GatedPool()
        batcher = Batcher(pool, [0, 1], 8, 0)  # type: ignore[arg-type]
        first, waiting = await behind_a_busy_pool(batcher, (2, 3, 4), (0, 1), busy_value=1)
        pool.gate.set()
        return pool.batches, await first, await asyncio.gather(*waiting)

    batches, first, waiting = asyncio.run(scenario())
    assert batches == [1, 3]
    assert first[0][0].tolist() == [[1, 1]]
    for value, (arrays, _) in zip((2, 3, 4), waiting, strict=True):
        assert [a.tolist() for a in arrays] == [[[value, value]], [[2 * value, 2 * value]]]


def test_a_batch_holds_at_most_max_rows():
    async def scenario():
        pool = GatedPool()
        batcher = Batcher(pool, [0], 2, 0)  # type: ignore[arg-type]
        busy, waiting = await behind_a_busy_pool(batcher, range(1, 6))
        pool.gate.set()
        answers = await asyncio.gather(busy, *waiting)
        return pool.batches, [a[0][0][0, 0] for a in answers]

    batches, values = asyncio.run(scenario())
    assert batches == [1, 2, 2, 1]
    assert values == [0, 1, 2, 3, 4, 5]


def test_every_request_of_a_failed_batch_gets_its_error():
    async def scenario():
        pool = GatedPool(fail=True)
        batcher = Batcher(pool, [0], 8, 0)  # type: ignore[arg-type]
        calls = [asyncio.ensure_future(batcher.run(row(v), [0])) for v in range(3)]
        await _settle()
        pool.gate.set()
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(scenario())
    assert [str(r) for r in results] == ["invoke failed"] * 3


def test_a_cancelled_waiting_request_leaves_the_others_their_answers():
    async def scenario():
        pool = GatedPool()
        batcher = Batcher(pool, [0], 8, 0)  # type: ignore[arg-type]
        busy, (gone, kept) = await behind_a_busy_pool(batcher, (1, 2))
        gone.cancel()
        pool.gate.set()
        return await busy, await kept

    _, (arrays, _) = asyncio.run(scenario())
    assert arrays[0].tolist() == [[2, 2]]


def test_a_delay_holds_a_gathering_batch_until_it_is_full():
    """With a 60 s delay, the two requests that waited go as soon as they fill a batch."""

    async def scenario():
        pool = GatedPool()
        batcher = Batcher(pool, [0], 2, 60.0)  # type: ignore[arg-type]
        busy, waiting = await behind_a_busy_pool(batcher, (1, 2))
        pool.gate.set()
        await asyncio.gather(busy, *waiting)
        return pool.batches

    assert asyncio.run(asyncio.wait_for(scenario(), 5)) == [1, 2]  # full: no 60 s wait


def spec(shape_signature: tuple[int, ...]) -> TensorSpec:
    return TensorSpec(
        name="t", index=0, dtype=np.dtype(np.float32), shape=(1,), shape_signature=shape_signature
    )


@pytest.mark.parametrize(
    ("signatures", "expected"),
    [
        (((-1, 4), (-1, 3)), True),
        (((1, 4), (-1, 3)), False),  # a fixed batch dimension
        (((-1, -1), (-1, 3)), False),  # a second dynamic dimension: rows would not line up
    ],
)
def test_only_tensors_dynamic_in_their_first_dimension_alone_batch(signatures, expected):
    assert batchable([spec(s) for s in signatures]) is expected


def _direct(path: Path, rows: np.ndarray) -> np.ndarray:
    interp = new_interpreter(path.read_bytes(), 1)
    detail = interp.get_input_details()[0]
    interp.resize_tensor_input(detail["index"], list(rows.shape), strict=True)
    interp.allocate_tensors()
    interp.set_tensor(detail["index"], rows)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def test_a_real_model_batches_concurrent_requests_and_answers_each_as_alone():
    """bench_mlp with one interpreter: 12 requests at once take fewer invokes than 12, and
    every answer equals a direct invoke of that request's own row."""
    path = MODELS / "bench_mlp.tflite"
    config = ModelConfig(path, name="mlp", pool_size=1, solo_threads=0, max_batch_size=8)
    model = TFLiteModel(config)
    model.load()
    invokes: list[float] = []
    model.observe_inference(invokes.append)
    rows = np.random.default_rng(1).uniform(-1, 1, (12, 1, 256)).astype(np.float32)

    async def scenario():
        return await asyncio.gather(*(model.predict({"features": r}) for r in rows))

    try:
        answers = asyncio.run(scenario())
    finally:
        model.close()
    assert model.batching == 8
    assert len(invokes) < len(rows)
    for r, answer in zip(rows, answers, strict=True):
        np.testing.assert_allclose(answer["probabilities"], _direct(path, r), rtol=0, atol=1e-6)


def test_a_model_with_fixed_shapes_serves_unbatched_when_batching_is_asked_for():
    config = ModelConfig(MODELS / "classifier_float32.tflite", name="c", pool_size=1, max_batch_size=8)
    model = TFLiteModel(config)
    model.load()
    model.close()
    assert model.batching == 0
