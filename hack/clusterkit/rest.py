"""Stdlib HTTP(S) calls, so `up` needs no Kubernetes client library."""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path
from typing import Any


def admin_ssl_context(pki: Path) -> ssl.SSLContext:
    """Trust the cluster CA and present the admin client certificate (system:masters)."""
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(pki / "admin.crt", pki / "admin.key")
    return ctx


def api_call(server: str, pki: Path, method: str, path: str, body: Any, timeout: float) -> Any:
    """Minimal JSON REST call as admin: parsed JSON objects, other bodies (e.g. "ok") as text."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, context=admin_ssl_context(pki), timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw.startswith(b"{") else raw.decode()


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bytes(resp.read())


def insecure_get(port: int, path: str = "/healthz") -> bool:
    """Health of KCM/scheduler, which serve a self-signed in-memory certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    url = f"https://127.0.0.1:{port}{path}"
    with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
        return bool(resp.read() == b"ok")
