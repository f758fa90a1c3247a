"""Posting Kubernetes Events through kopf, with a log fallback outside the operator.

kopf batches events through its own queue and rate limits them; reconciles
run inside kopf handlers (even those triggered by children), so the kopf
context is present. Unit tests and one-shot tools have no such context and
just log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

EventPoster = Callable[[dict[str, Any], str, str, str], None]
log = logging.getLogger("mlmodel_operator.events")


def kopf_poster(owner: dict[str, Any], type_: str, reason: str, message: str) -> None:
    import kopf

    try:
        body: Any = owner
        kopf.event(body, type=type_, reason=reason, message=message)
    except LookupError:  # no operator context (tests, scripts)
        log.info("event %s %s on %s: %s", type_, reason, owner["metadata"]["name"], message)


def recording_poster(sink: list[tuple[str, str, str, str]]) -> EventPoster:
    """A poster that records (name, type, reason, message) tuples, for tests."""

    def post(owner: dict[str, Any], type_: str, reason: str, message: str) -> None:
        sink.append((owner["metadata"]["name"], type_, reason, message))

    return post
