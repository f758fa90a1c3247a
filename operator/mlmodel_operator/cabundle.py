"""The private CA a URL source trusts (`source.caConfigMap`), read through the API server.

The init container gets the same ConfigMap key mounted (builders/pod.py), so the operator
verifies the URL against exactly the CAs the pods will trust, and only those (like curl
--cacert). Reading it here also means a missing bundle blocks the version in status,
instead of leaving new pods waiting on a volume that cannot be mounted.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable
from typing import Any

from mlmodel_fetch.urls import SYSTEM_CAS, ca_context
from mlmodel_operator.packages import ca_config_map


class CABundleError(Exception):
    """The ConfigMap or its key is missing, or holds no certificate: reason CABundleNotFound."""


def trusted(source: dict[str, Any]) -> str:
    """The CAs a TLS error message names."""
    ref = ca_config_map(source)
    return SYSTEM_CAS if ref is None else f"CA from ConfigMap {ref['name']!r} key {ref['key']!r}"


def _pem(cm: dict[str, Any], key: str) -> str | None:
    """The key as the kubelet would write it (data or binaryData), as ASCII.

    PEM is ASCII; bundles often carry UTF-8 comments (issuer names) between certificates,
    which the init container's file loader skips but `cadata` would refuse.
    """
    if key in (cm.get("data") or {}):
        raw = str(cm["data"][key]).encode()
    elif key in (cm.get("binaryData") or {}):
        raw = base64.b64decode(cm["binaryData"][key])
    else:
        return None
    return raw.decode("ascii", "ignore")


def tls_context(
    source: dict[str, Any], read_configmap: Callable[[str], dict[str, Any] | None]
) -> ssl.SSLContext | None:
    """A context trusting only the source's CA bundle; None without `caConfigMap`."""
    ref = ca_config_map(source)
    if ref is None:
        return None
    cm, where = read_configmap(ref["name"]), f"CA bundle ConfigMap {ref['name']!r}"
    if cm is None:
        raise CABundleError(f"{where} not found")
    pem = _pem(cm, ref["key"])
    if pem is None:
        raise CABundleError(f"{where} has no key {ref['key']!r}")
    try:
        return ca_context(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise CABundleError(f"{where} key {ref['key']!r} holds no PEM certificate") from exc
