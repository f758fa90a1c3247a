"""Model packages for the e2e tier: ConfigMap and https sources built from the committed
fixtures, and an https server on the host that pods reach at the node's address."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import tls
from tests.support.archives import tar_gz

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "tests" / "fixtures" / "models"
FRUIT = REPO / "tests" / "fixtures" / "packages" / "fruit_classifier"
NODE_IP = "172.30.255.1"  # hack/clusterkit/common.py: the node's address, reachable from pods


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tarball(files: dict[str, bytes]) -> bytes:
    """A .tar.gz with its members sorted by name (tar_gz fixes mtimes, owners and modes)."""
    return tar_gz(dict(sorted(files.items())))


def fruit_package() -> bytes:
    """The seeds' fruit_classifier package directory (MLmodel, model, labels, example)."""
    return tarball({p.name: p.read_bytes() for p in FRUIT.iterdir() if p.is_file()})


def configmap(name: str, key: str, data: bytes) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "binaryData": {key: base64.b64encode(data).decode()}}  # fmt: skip


def cm_version(version: str, cm: str, key: str, data: bytes, **extra: Any) -> dict[str, Any]:
    """A version whose bytes come from a ConfigMap key, with their sha256."""
    return {"version": version, "source": {"configMap": {"name": cm, "key": key}},
            "sha256": sha(data), **extra}  # fmt: skip


def package(name: str, *versions: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "mlmodel.dev/v1alpha1", "kind": "ModelPackage", "metadata": {"name": name},
            "spec": {"versions": list(versions)}}  # fmt: skip


def mlmodel(name: str, pkg: str, model_file: str, labels: str | None = None, **spec: Any) -> dict[str, Any]:
    """An MLModelService following `latest` of `pkg`, on the real node."""
    attrs: dict[str, Any] = {"model_path": f"${{packages.m}}/{model_file}", "num_threads": 1}
    if labels:
        attrs["label_path"] = f"${{packages.m}}/{labels}"
    return {"apiVersion": "mlmodel.dev/v1alpha1", "kind": "MLModelService", "metadata": {"name": name},
            "spec": {"attributes": attrs, "packages": [{"name": "m", "package": pkg}], **spec}}  # fmt: skip


@dataclass
class HttpsServer:
    """An https file server on the node's address with a CA of its own (like a company's)."""

    base: str
    ca_pem: bytes

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


@contextlib.contextmanager
def https_server(work: Path, files: dict[str, bytes]) -> Iterator[HttpsServer]:
    """Serve `files` (name -> bytes) over https on NODE_IP, which pods reach, until the block ends."""
    served = work / "served"  # only these files: `work` may hold a cluster's keys
    served.mkdir()
    for name, data in files.items():
        (served / name).write_bytes(data)
    authority = tls.Authority("e2e artifact CA")
    with tls.https_server(served, authority.server_context(NODE_IP), NODE_IP) as base:
        yield HttpsServer(base, authority.pem.encode())
