"""Per-model statistics: every predict counted, successes with their phases, failures apart."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mlmodel_server.errors import InvalidInput
from mlmodel_server.runtime.model import ModelConfig, TFLiteModel
from tests.conftest import MODELS


def test_successes_failures_and_phases_are_counted():
    model = TFLiteModel(ModelConfig(MODELS / "multi_io.tflite", name="multi_io", pool_size=1))
    model.load()
    try:
        good = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.int32)}
        for _ in range(3):
            asyncio.run(model.predict(good))
        with pytest.raises(InvalidInput):
            asyncio.run(model.predict({"a": good["a"]}))
    finally:
        model.close()
    doc = model.stats.as_dict("multi_io", "1")
    stats = doc["inference_stats"]
    assert doc["inference_count"] == doc["execution_count"] == 3 and doc["last_inference"] > 0
    assert stats["fail"]["count"] == 1 and stats["success"]["count"] == 3
    for phase in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert stats[phase]["count"] == 3 and stats[phase]["ns"] >= 0
    assert stats["compute_infer"]["ns"] > 0
    assert stats["success"]["ns"] >= stats["compute_infer"]["ns"]
