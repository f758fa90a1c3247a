"""What the operator can check about a package version before any pod runs.

ConfigMap bytes are read and hashed. URLs are fetched with a size cap (larger
files are only HEAD-checked and left to the init container, which always
verifies). PVC contents cannot be read from the operator. The result is one
`status.versions[]` entry; `reason` is what `packages.BLOCKING_REASONS` checks.

Bytes the operator reads are also looked into (mlmodel_fetch.contents): a bare `.tflite`
that is not one is `NotTFLite`, an archive that cannot be read `InvalidArchive`, and the
files found are recorded (`files[]`), so a service's model and labels paths can be checked
against them before it rolls out (preflight.py). Bytes it does not read are `Unverified`,
never `Verified`.

URLs follow the init container's policy (mlmodel_fetch.urls): https only, plain http
only with `source.allowInsecureHttp`, on redirects too. A refused URL is
`InsecureSource`, which blocks the version, so a pod never fails on it later.

A URL source with `source.caConfigMap` is verified against that CA bundle only, as the init
container is; a bundle the operator cannot read is `CABundleNotFound`, which blocks too.
Its presence is checked on every pass, also when a URL result is reused.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlmodel_fetch import contents, errors
from mlmodel_fetch.errors import FetchError
from mlmodel_fetch.fetch import http_reason, source_name
from mlmodel_fetch.urls import certificate_failure, opener
from mlmodel_fetch.urls import check_url as check_url_policy
from mlmodel_operator import cabundle
from mlmodel_operator.packages import fingerprint, source_type

ConfigMapReader = Callable[[str], dict[str, Any] | None]


def entry(
    version: dict[str, Any],
    verified: str,
    reason: str,
    message: str,
    sha256: str | None = None,
    size: int | None = None,
    files: contents.Contents | None = None,
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
    if files is not None:
        out.update(files.to_status())
    return out


def file_name(version: dict[str, Any]) -> str:
    """The name `mlmodel fetch` gives the version's bytes when they are a bare file."""
    source = version.get("source", {})
    if "configMap" in source:
        return source_name(None, Path(source["configMap"]["key"]))
    return source_name(source.get("url"), None)


def check_bytes(version: dict[str, Any], data: bytes, max_bytes: int) -> dict[str, Any]:
    """Compare bytes with the declared digest (or record the digest if none was declared),
    then look into them: bytes no server could load are refused here, not in a crash loop."""
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
    name = file_name(version)
    problem = contents.bare_file_problem(name, data[:8])
    if problem:
        return entry(version, "False", "NotTFLite", problem, digest, len(data))
    try:
        files = contents.describe_bytes(data, name, max_bytes)
    except FetchError as exc:
        return entry(version, "False", "InvalidArchive", str(exc)[:300], digest, len(data))
    return entry(
        version,
        "True",
        "Verified",
        "checksum verified" if expected else "digest computed from the source",
        digest,
        len(data),
        files,
    )


def check_configmap(version: dict[str, Any], read: ConfigMapReader, max_bytes: int) -> dict[str, Any]:
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
    return check_bytes(version, data, max_bytes)


def _allow_http(version: dict[str, Any]) -> bool:
    return bool(version.get("source", {}).get("allowInsecureHttp"))


def url_refusal(version: dict[str, Any]) -> str | None:
    """Why the URL policy refuses this version's url (None: allowed, or not a url source)."""
    url = version.get("source", {}).get("url")
    if url is None:
        return None
    try:
        check_url_policy(url, _allow_http(version))
    except FetchError as exc:
        return str(exc)
    return None


def _open(url: str, method: str, timeout: float, allow_http: bool, context: ssl.SSLContext | None) -> Any:
    req = urllib.request.Request(url, method=method, headers={"User-Agent": "mlmodel-operator"})
    return opener(allow_http, context).open(req, timeout=timeout)


def check_url(
    version: dict[str, Any], max_bytes: int, timeout: float, context: ssl.SSLContext | None = None
) -> dict[str, Any]:
    """HEAD for reachability and size; GET and hash when small enough.

    `context` trusts the source's CA bundle (None: the system store).
    """
    url, allow_http = version["source"]["url"], _allow_http(version)
    refused = url_refusal(version)
    if refused:
        return entry(version, "False", "InsecureSource", refused)
    try:
        with _open(url, "HEAD", timeout, allow_http, context) as resp:
            size = int(resp.headers.get("Content-Length") or -1)
        if size > max_bytes:
            return entry(
                version,
                "Unknown",
                "TooLargeToVerify",
                f"{size} bytes; the init container verifies it",
                size=size,
            )
        with _open(url, "GET", timeout, allow_http, context) as resp:
            data = resp.read(max_bytes + 1)
    except FetchError as exc:  # a redirect the URL policy refuses
        return entry(version, "False", "InsecureSource", str(exc)[:300])
    except urllib.error.HTTPError as exc:
        verified = "Unknown" if exc.code >= 500 else "False"  # a server error may pass; a 404 is an answer
        return entry(version, verified, http_reason(exc.code), f"HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        untrusted = certificate_failure(exc, cabundle.trusted(version["source"]))
        if untrusted:
            return entry(version, "Unknown", errors.UNTRUSTED, untrusted[:300])
        return entry(version, "Unknown", errors.UNREACHABLE, str(getattr(exc, "reason", exc))[:300])
    if len(data) > max_bytes:
        return entry(version, "Unknown", "TooLargeToVerify", "the init container verifies it")
    return check_bytes(version, data, max_bytes)


def check_version(
    version: dict[str, Any],
    read_configmap: ConfigMapReader,
    *,
    verify_urls: bool,
    max_bytes: int,
    timeout: float,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The status entry of one version; `previous` is its last one, kept when `reusable`."""
    kind = source_type(version.get("source", {}))
    if kind == "configMap":
        return check_configmap(version, read_configmap, max_bytes)
    refused = url_refusal(version)
    if refused:  # even with URL verification off: the init container would refuse it
        return entry(version, "False", "InsecureSource", refused)
    try:  # even with URL verification off: the pods could not use it
        context = cabundle.tls_context(version.get("source", {}), read_configmap)
    except cabundle.CABundleError as exc:
        return entry(version, "False", "CABundleNotFound", str(exc))
    if previous is not None and reusable(previous, version):
        return dict(previous)
    if kind == "url" and verify_urls:
        return check_url(version, max_bytes, timeout, context)
    why = "URL verification is disabled" if kind == "url" else "PVC contents are not readable"
    return entry(
        version, "Unknown", "Unverified", f"{why}; the init container verifies it", version.get("sha256")
    )


def reusable(previous: dict[str, Any] | None, version: dict[str, Any]) -> bool:
    """URL results are kept while the source is unchanged; ConfigMaps are cheap to re-read.

    Never for a URL the policy refuses: a result recorded before the policy existed must
    not keep an http source deployable.
    """
    return (
        url_refusal(version) is None
        and previous is not None
        and previous.get("fingerprint") == fingerprint(version)
        and previous.get("sourceType") == "url"
        and previous.get("reason")
        in ("Verified", "ChecksumMismatch", "TooLargeToVerify", "NotTFLite", "InvalidArchive")
    )
