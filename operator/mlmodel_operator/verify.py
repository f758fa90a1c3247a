"""What the operator can check about a package version before any pod runs.

ConfigMap bytes are read and hashed. URLs are fetched with a size cap (larger
files are only HEAD-checked and left to the init container, which always
verifies). PVC contents cannot be read from the operator. The result is one
`status.versions[]` entry; `reason` is what `packages.BLOCKING_REASONS` checks.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from mlmodel_operator.packages import fingerprint, source_type

ConfigMapReader = Callable[[str], dict[str, Any] | None]


def entry(
    version: dict[str, Any],
    verified: str,
    reason: str,
    message: str,
    sha256: str | None = None,
    size: int | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": version["version"],
        "sourceType": source_type(version.get("source", {})),
        "verified": verified,
        "reason": reason,
        "message": message,
        "fingerprint": fingerprint(version),
    }
    if sha256:
        out["sha256"] = sha256
    if size is not None:
        out["size"] = size
    return out


def check_bytes(version: dict[str, Any], data: bytes) -> dict[str, Any]:
    """Compare bytes with the declared digest (or record the digest if none was declared)."""
    digest, expected = hashlib.sha256(data).hexdigest(), (version.get("sha256") or "").lower()
    if expected and digest != expected:
        return entry(
            version,
            "False",
            "ChecksumMismatch",
            f"sha256 mismatch: expected {expected}, got {digest}",
            digest,
            len(data),
        )
    return entry(
        version,
        "True",
        "Verified",
        "checksum verified" if expected else "digest computed from the source",
        digest,
        len(data),
    )


def check_configmap(version: dict[str, Any], read: ConfigMapReader) -> dict[str, Any]:
    ref = version["source"]["configMap"]
    cm = read(ref["name"])
    if cm is None:
        return entry(version, "False", "SourceNotFound", f"ConfigMap {ref['name']!r} not found")
    if ref["key"] in (cm.get("binaryData") or {}):
        data = base64.b64decode(cm["binaryData"][ref["key"]])
    elif ref["key"] in (cm.get("data") or {}):
        data = cm["data"][ref["key"]].encode()
    else:
        return entry(
            version, "False", "SourceNotFound", f"ConfigMap {ref['name']!r} has no key {ref['key']!r}"
        )
    return check_bytes(version, data)


def _open(url: str, method: str, timeout: float) -> Any:
    req = urllib.request.Request(url, method=method, headers={"User-Agent": "mlmodel-operator"})
    return urllib.request.urlopen(req, timeout=timeout)


def check_url(version: dict[str, Any], max_bytes: int, timeout: float) -> dict[str, Any]:
    """HEAD for reachability and size; GET and hash when small enough."""
    url = version["source"]["url"]
    try:
        with _open(url, "HEAD", timeout) as resp:
            size = int(resp.headers.get("Content-Length") or -1)
        if size > max_bytes:
            return entry(
                version,
                "Unknown",
                "TooLargeToVerify",
                f"{size} bytes; the init container verifies it",
                size=size,
            )
        with _open(url, "GET", timeout) as resp:
            data = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        return entry(version, "False", "Unreachable", f"HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        return entry(version, "Unknown", "Unreachable", str(getattr(exc, "reason", exc))[:300])
    if len(data) > max_bytes:
        return entry(version, "Unknown", "TooLargeToVerify", "the init container verifies it")
    return check_bytes(version, data)


def check_version(
    version: dict[str, Any],
    read_configmap: ConfigMapReader,
    *,
    verify_urls: bool,
    max_bytes: int,
    timeout: float,
) -> dict[str, Any]:
    kind = source_type(version.get("source", {}))
    if kind == "configMap":
        return check_configmap(version, read_configmap)
    if kind == "url" and verify_urls:
        return check_url(version, max_bytes, timeout)
    why = "URL verification is disabled" if kind == "url" else "PVC contents are not readable"
    return entry(
        version, "Unknown", "NotVerifiable", f"{why}; the init container verifies it", version.get("sha256")
    )


def reusable(previous: dict[str, Any] | None, version: dict[str, Any]) -> bool:
    """URL results are kept while the source is unchanged; ConfigMaps are cheap to re-read."""
    return (
        previous is not None
        and previous.get("fingerprint") == fingerprint(version)
        and previous.get("sourceType") == "url"
        and previous.get("reason") in ("Verified", "ChecksumMismatch", "TooLargeToVerify")
    )
