"""Run a Deployment's pod template as local processes: the data-plane contract test.

kwok makes pods Ready without running them, so nothing in the cluster proves that
the pod spec we ship would serve. This runner does what a kubelet would: it
materialises every volume in a temp dir (emptyDir empty, configMap and secret from the
real objects), runs each init container's command to completion, then the main
container, with the container's paths mapped onto those dirs, and waits for the
readiness probe.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

# The image's ENTRYPOINT is ["mlmodel"]; locally that is the same CLI module.
ENTRYPOINT = [sys.executable, "-m", "mlmodel_server.cli"]
ConfigMapReader = Callable[[str], dict[str, Any]]
SecretReader = Callable[[str], dict[str, Any]]  # a Secret as the API returns it (base64 `data`)


@dataclass
class PodRun:
    """A started pod: its main process, URL and the init containers' messages."""

    url: str
    process: subprocess.Popen[str]
    termination_messages: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


def materialise_volumes(
    pod: dict[str, Any],
    root: Path,
    read_configmap: ConfigMapReader,
    read_secret: SecretReader | None = None,
) -> dict[str, Path]:
    """One directory per volume, filled as the kubelet would fill it."""
    dirs = {}
    for volume in pod.get("volumes", []):
        path = root / "volumes" / volume["name"]
        path.mkdir(parents=True)
        if "configMap" in volume:
            _write_configmap(path, volume["configMap"], read_configmap(volume["configMap"]["name"]))
        elif "secret" in volume and read_secret is not None:
            _write_secret(path, volume["secret"], read_secret(volume["secret"]["secretName"]))
        elif "emptyDir" not in volume:
            raise AssertionError(f"volume {volume['name']} has a type this runner cannot provide")
        dirs[volume["name"]] = path
    return dirs


def _write_configmap(path: Path, source: dict[str, Any], configmap: dict[str, Any]) -> None:
    files = {k: v.encode() for k, v in (configmap.get("data") or {}).items()}
    files |= {k: base64.b64decode(v) for k, v in (configmap.get("binaryData") or {}).items()}
    items = source.get("items") or [{"key": k, "path": k} for k in files]
    for item in items:
        (path / item["path"]).write_bytes(files[item["key"]])


def _write_secret(path: Path, source: dict[str, Any], secret: dict[str, Any]) -> None:
    files = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    items = source.get("items") or [{"key": k, "path": k} for k in files]
    for item in items:
        target = path / item["path"]
        target.write_bytes(files[item["key"]])
        target.chmod(item.get("mode", source.get("defaultMode", 0o644)))


def _path_map(container: dict[str, Any], volumes: dict[str, Path], scratch: Path) -> list[tuple[str, str]]:
    """Container paths → local paths, longest mount first so nested mounts win."""
    pairs = [(m["mountPath"], str(volumes[m["name"]])) for m in container.get("volumeMounts", [])]
    pairs.append(("/dev/termination-log", str(scratch / f"{container['name']}.termination-log")))
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def _rewrite(arg: str, pairs: list[tuple[str, str]]) -> str:
    for container_path, local in pairs:
        if arg == container_path or arg.startswith(container_path + "/"):
            return local + arg[len(container_path) :]
    return arg


def command_line(container: dict[str, Any], pairs: list[tuple[str, str]]) -> list[str]:
    if container.get("command"):
        raise AssertionError(f"container {container['name']} overrides the image entrypoint")
    return ENTRYPOINT + [_rewrite(str(a), pairs) for a in container.get("args", [])]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {
        **os.environ,
        **{e["name"]: str(e.get("value", "")) for e in container.get("env", []) if "value" in e},
    }


def run_init_containers(pod: dict[str, Any], volumes: dict[str, Path], scratch: Path) -> dict[str, str]:
    """Each init container must exit 0; return their termination messages."""
    messages = {}
    for container in pod.get("initContainers", []):
        pairs = _path_map(container, volumes, scratch)
        result = subprocess.run(
            command_line(container, pairs), env=_env(container), capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"init container {container['name']} failed: {result.stderr}"
        log = scratch / f"{container['name']}.termination-log"
        messages[container["name"]] = log.read_text() if log.exists() else ""
    return messages


def _listen_locally(args: list[str], port: int) -> list[str]:
    """The pod listens on 0.0.0.0:8080 (gRPC 8081); here it gets 127.0.0.1 and free ports."""
    out = list(args)
    for flag, value in (("--host", "127.0.0.1"), ("--port", str(port)), ("--grpc-port", str(free_port()))):
        if flag in out:
            out[out.index(flag) + 1] = value
    return out


def start_main_container(pod: dict[str, Any], volumes: dict[str, Path], scratch: Path) -> tuple[str, Any]:
    [container] = pod["containers"]
    port = free_port()
    pairs = _path_map(container, volumes, scratch)
    args = _listen_locally(command_line(container, pairs), port)
    process = subprocess.Popen(args, env=_env(container), stderr=subprocess.PIPE, text=True)
    return f"http://127.0.0.1:{port}", (process, container)


def wait_for_probe(
    url: str, process: subprocess.Popen[str], probe: dict[str, Any], timeout: float = 60
) -> None:
    """Poll the container's own readiness probe path until it answers 200."""
    path = probe["httpGet"]["path"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode}: {process.stderr.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"readiness probe {path} never passed")


def run_pod(
    pod: dict[str, Any],
    root: Path,
    read_configmap: ConfigMapReader,
    read_secret: SecretReader | None = None,
) -> PodRun:
    """Materialise, run init containers, start the server and wait until it is ready."""
    scratch = root / "scratch"
    scratch.mkdir(parents=True)
    volumes = materialise_volumes(pod, root, read_configmap, read_secret)
    messages = run_init_containers(pod, volumes, scratch)
    url, (process, container) = start_main_container(pod, volumes, scratch)
    run = PodRun(url, process, messages)
    try:
        wait_for_probe(url, process, container["readinessProbe"])
    except AssertionError:
        run.stop()
        raise
    return run
