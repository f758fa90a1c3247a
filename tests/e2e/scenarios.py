"""A service serving v1 on the real node, and the versions the e2e tests move it to.

v1 is classifier_float32, v2 classifier_metadata: same input and output shapes, different
answers, so every response says which version produced it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from localcluster import wait_until
from tests.e2e.packages import MODELS, cm_version, configmap, mlmodel, package
from tests.e2e.traffic import infer_body, post, service_address
from tests.support.objects import Objects

V1 = (MODELS / "classifier_float32.tflite").read_bytes()
V2 = (MODELS / "classifier_metadata.tflite").read_bytes()
KEY = "model.tflite"
FLOATS = np.linspace(0, 1, 32 * 32 * 3, dtype=np.float32).reshape(1, 32, 32, 3)
BODY = infer_body(FLOATS)


def version_of(raw: bytes) -> str:
    """v1's first score is in the hundreds, v2's is a probability."""
    first = json.loads(raw)["outputs"][0]["data"][0]
    return "v1" if first > 1.5 else "v2"


def serve_v1(objs: Objects, name: str = "float", **spec: Any) -> tuple[str, int]:
    """ModelPackage `name` with v1, an MLModelService following latest; its Service address."""
    objs.create(configmap(f"{name}-1", KEY, V1))
    objs.create(package(name, cm_version("1", f"{name}-1", KEY, V1)))
    objs.create(mlmodel(name, name, KEY, **spec))
    return serving_address(objs, name)


def serving_address(objs: Objects, name: str) -> tuple[str, int]:
    """Wait until MLModelService `name` is Ready and answers through its Service; its address."""
    wait_ready(objs, "MLModelService", name)
    address = service_address(objs, name)
    wait_until(lambda: answers(address, name), what=f"{name} answering through its Service", timeout=30,
               interval=0.1)  # fmt: skip
    return address


def answers(address: tuple[str, int], name: str) -> bool:
    """One good inference through the Service (kube-proxy's rules may trail Ready a moment)."""
    try:
        return post(address, path(name), BODY, timeout=2)[0] == 200
    except OSError:
        return False


def publish(objs: Objects, name: str, version: str, data: bytes, **extra: Any) -> None:
    """Add `version` (bytes in a new ConfigMap) as the package's latest."""
    objs.create(configmap(f"{name}-{version}", KEY, data))
    versions = [cm_version("1", f"{name}-1", KEY, V1), cm_version(version, f"{name}-{version}", KEY, data,
                                                                   latest=True, **extra)]  # fmt: skip
    objs.patch("ModelPackage", name, {"spec": {"versions": versions}})


def wait_ready(objs: Objects, kind: str, name: str, timeout: float = 180) -> float:
    """Seconds until the resource's Ready condition is True."""
    t0 = time.monotonic()
    objs.wait(lambda: objs.condition(kind, name, "Ready").get("status") == "True",
              f"{kind}/{name} Ready ({objs.status(kind, name)})", timeout)  # fmt: skip
    return time.monotonic() - t0


def path(name: str) -> str:
    return f"/v2/models/{name}/infer"
