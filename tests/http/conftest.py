"""HTTP fixtures: in-process apps (TestClient) and real `mlmodel serve` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from mlmodel_server.app import HttpSettings, create_app
from mlmodel_server.runtime.model import ModelConfig
from mlmodel_server.server import assemble
from mlmodel_server.vision.config import VisionConfig
from tests.conftest import MODELS

LABELS = {
    "classifier_uint8": "classifier_labels.txt",
    "classifier_float32": "classifier_labels.txt",
    "detector_ssd": "detector_labels.txt",
    "bench_classifier": "bench_labels.txt",
}


def make_client(model: str, vision: dict | None = None, **settings: int) -> TestClient:
    """An app serving one fixture model (with its labels file, when it has one)."""
    labels = MODELS / LABELS[model] if model in LABELS else None
    config = ModelConfig(MODELS / f"{model}.tflite", labels, name=model, pool_size=2)
    dataplane = assemble(config, VisionConfig.from_attributes(vision or {}))
    return TestClient(create_app(dataplane, HttpSettings(**settings)))


@pytest.fixture(scope="module")
def clients() -> Iterator[Callable[..., TestClient]]:
    """A factory of TestClients, cached per model for the module and closed after it."""
    made: dict[str, TestClient] = {}

    def get(model: str) -> TestClient:
        if model not in made:
            made[model] = make_client(model)
        return made[model]

    yield get
    for client in made.values():
        client.app.state.dataplane.close()
