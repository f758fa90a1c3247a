"""HTTP fixtures: in-process apps (TestClient) and real `mlmodel serve` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A real `mlmodel serve` subprocess on a loopback port."""

    def __init__(self, args: list[str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "mlmodel_server.cli", "serve", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(
            command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )

    def wait_ready(self, timeout: float = 30) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)


@pytest.fixture
def serve_process() -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(*args: str | Path) -> ServerProcess:
        server = ServerProcess([str(a) for a in args])
        started.append(server)
        return server.wait_ready()

    yield start
    for server in started:
        server.stop()
