"""Start the servers under test as child processes on 127.0.0.1, wait until ready, stop them.

Each server runs in its own process group, so stopping it also stops the
workers it spawned (`mlflow models serve` execs uvicorn under bash).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ServerSpec:
    label: str
    argv: Sequence[str]
    port: int
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    grpc_port: int = 0  # 0: no gRPC


class ServerFailed(RuntimeError):
    """A server exited or never became ready; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def ours(
    model: Path, labels: Path | None, name: str, port: int, extra: Sequence[str] = (), grpc_port: int = 0
) -> ServerSpec:
    argv = [sys.executable, "-m", "mlmodel_server.cli", "serve", "--model", str(model), "--name", name]
    argv += ["--labels", str(labels)] if labels else []
    argv += ["--host", HOST, "--port", str(port), "--grpc-port", str(grpc_port), "--log-level", "warning"]
    return ServerSpec("mlmodel", [*argv, *extra], port, "/v2/health/ready", grpc_port=grpc_port)


def kserve(venv: Path, model: Path, name: str, port: int, grpc_port: int = 0) -> ServerSpec:
    argv = [str(venv / "bin" / "python"), str(HERE / "peers" / "kserve_server.py")]
    argv += ["--model_path", str(model), "--model_name", name, "--http_port", str(port)]
    argv += ["--enable_grpc", "true" if grpc_port else "false", "--enable_latency_logging", "false"]
    argv += ["--grpc_port", str(grpc_port)] if grpc_port else []
    return ServerSpec("KServe", argv, port, "/v2/health/ready", grpc_port=grpc_port)


def mlflow(venv: Path, model_dir: Path, port: int) -> ServerSpec:
    """`mlflow models serve` as its users run it: one uvicorn worker (its default)."""
    argv = [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir)]
    argv += ["--env-manager", "local", "-h", HOST, "-p", str(port)]
    return ServerSpec("MLflow", argv, port, "/ping", _venv_env(venv))


def vision_proxy(upstream_port: int, model_name: str, port: int) -> ServerSpec:
    argv = [sys.executable, str(HERE / "vision_proxy.py"), "--upstream", f"http://{HOST}:{upstream_port}"]
    argv += ["--model", model_name, "--host", HOST, "--port", str(port)]
    return ServerSpec("remote vision proxy", argv, port, "/ready")


def _venv_env(venv: Path) -> dict[str, str]:
    """The venv's bin first on PATH: `mlflow models serve` runs a bare `uvicorn`."""
    return {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(venv)}


@contextmanager
def running(spec: ServerSpec, log_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The server, started and ready; stopped (its whole process group) on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{spec.label.replace(' ', '-')}-{spec.port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            list(spec.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **spec.env},
            start_new_session=True,
        )
        try:
            _wait_ready(proc, spec, log_path)
            yield proc
        finally:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], spec: ServerSpec, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerFailed(f"{spec.label} exited with {proc.returncode}:\n{_tail(log_path)}")
        if _status(spec.port, spec.ready_path) == 200:
            return
        time.sleep(0.2)
    raise ServerFailed(f"{spec.label} not ready after {READY_TIMEOUT_S:.0f} s:\n{_tail(log_path)}")


def _status(port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group we created, then SIGKILL to whatever is left of it."""
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
