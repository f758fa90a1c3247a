"""Does a live object already hold everything a desired manifest says? (pure)

Why: server-side apply of an unchanged manifest changes nothing in storage, but
it is still a write request, and a resync of N services would send 2N of them
every interval. Comparing first keeps an idle operator write-free, while a
hand-edited child (no longer covering the manifest) is still re-applied.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def covers(live: Any, desired: Any) -> bool:
    """True when every field of `desired` is present and equal in `live`.

    Fields only the server sets (defaults, status, managedFields) are ignored;
    lists must match item by item, since their order is meaningful here.
    """
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(k in live and covers(live[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(covers(a, b) for a, b in zip(live, desired, strict=True))
        )
    return bool(live == desired)


MANIFEST_HASH = "mlmodel.dev/manifest-sha256"


def with_manifest_hash(desired: dict[str, Any]) -> dict[str, Any]:
    """`desired` plus an annotation hashing all of it.

    `covers` alone cannot see a field the desired manifest *dropped* (say, an env var
    of a removed `spec.auth`): the live object still has it, and a subset still matches.
    The hash changes whenever anything in the manifest changes, removals included, so
    such a change is applied, and server-side apply then removes what we no longer own.
    """
    digest = hashlib.sha256(json.dumps(desired, sort_keys=True, separators=(",", ":")).encode())
    meta = dict(desired.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), MANIFEST_HASH: digest.hexdigest()[:16]}
    return {**desired, "metadata": meta}
