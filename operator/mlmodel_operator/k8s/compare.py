"""Does a live object already hold everything a desired manifest says? (pure)

Why: server-side apply of an unchanged manifest changes nothing in storage, but
it is still a write request, and a resync of N services would send 2N of them
every interval. Comparing first keeps an idle operator write-free, while a
hand-edited child (no longer covering the manifest) is still re-applied.
"""

from __future__ import annotations

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
