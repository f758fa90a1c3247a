"""Model packages for the e2e tier: ConfigMap and https sources built from the committed
fixtures, and an https server on the host that pods reach at the node's address."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import io
import ssl
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster import free_ports

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "tests" / "fixtures" / "models"
FRUIT = REPO / "tests" / "fixtures" / "packages" / "fruit_classifier"
NODE_IP = "172.30.255.1"  # hack/clusterkit/common.py: the node's address, reachable from pods


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tarball(files: dict[str, bytes]) -> bytes:
    """A reproducible .tar.gz (fixed order, mtimes and owners)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(files[name]), 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return raw.getvalue()


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

    files: dict[str, bytes]
    ca_pem: bytes
    port: int

    def url(self, name: str) -> str:
        return f"https://{NODE_IP}:{self.port}/{name}"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca_and_cert(work: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for the node's IP address, with the openssl CLI."""
    ca_key, ca_crt, key, csr, crt, ext = (work / n for n in
        ("ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt", "srv.ext"))  # fmt: skip
    _openssl(
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_crt),
        "-days",
        "2",
        "-subj",
        "/CN=e2e artifact CA",
    )
    _openssl(
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=artifacts",
    )
    ext.write_text(f"subjectAltName=IP:{NODE_IP}\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
             "-out", str(crt), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return ca_crt, crt, key


@contextlib.contextmanager
def https_server(work: Path, files: dict[str, bytes]) -> Iterator[HttpsServer]:
    """Serve `files` (name -> bytes) over https on NODE_IP until the block ends."""
    ca_crt, crt, key = make_ca_and_cert(work)
    port = free_ports(1)[0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = files.get(self.path.lstrip("/"))
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((NODE_IP, port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(crt, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpsServer(files, ca_crt.read_bytes(), port)
    finally:
        server.shutdown()
        server.server_close()
