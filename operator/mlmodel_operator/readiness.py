"""The operator's readiness: its watches are established and the API server answers.

Why: kopf's /healthz answers as long as kopf's event loop runs, so an operator that could
not reach the API server at all stayed Ready. Here ready means that every watch stream kopf
runs for the three kinds (one per kind, or per kind and namespace) has delivered its initial
listing, or is paused because a peering standby waits its turn, and that the API server has
not gone unanswered for `tolerance` seconds. The decision is a pure function of what was
observed and the clock (`unready_reason`); `Readiness` gathers the observations.

kopf has no public signal for "watch established": `observe_kopf_watches` wraps the stream
its watchers iterate (`kopf._cogs.clients.watching.infinite_watch`), which yields
`Bookmark.LISTED` when the initial listing is over. The unit tests fail if a kopf release
moves either. The API server is asked directly (`watch_api`), since a broken watch
connection is retried inside kopf without a sign.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlmodel_operator import GROUP
from mlmodel_operator.clock import Clock
from mlmodel_operator.k8s.client import Kube

log = logging.getLogger("mlmodel_operator.readiness")

KINDS = ("modelpackages", "mlmodelservices", "visionservices")
LISTING, LISTED, PAUSED = "listing", "listed", "paused"
CHECK_SECONDS = 5.0  # how often watch_api asks the API server
LOG_EVERY_SECONDS = 60.0  # while it does not answer, how often that is logged again
Stream = tuple[str, str | None]  # (plural, namespace; None: cluster-wide)


@dataclass(frozen=True)
class Observed:
    """What readiness is decided from, at one moment."""

    streams: Mapping[Stream, str] = field(default_factory=dict)  # LISTING, LISTED or PAUSED
    failing_since: datetime | None = None  # first unanswered contact since the last answer
    failure: str = ""  # what went wrong the last time
    server: str = ""  # the API server asked (Kube.server)


def unready_reason(
    observed: Observed, now: datetime, tolerance: float, kinds: Iterable[str] = KINDS
) -> str | None:
    """None when ready, else why not, in one line (the body of a 503 from /readyz)."""
    if observed.failing_since is not None:
        down = (now - observed.failing_since).total_seconds()
        if down >= tolerance:
            return f"API server {observed.server} not answering for {down:.0f}s: {observed.failure}"
    for kind in kinds:
        states = [state for (plural, _), state in observed.streams.items() if plural == kind]
        if not states:
            return f"no watch of {kind} yet"
        if LISTING in states:
            return f"watch of {kind} not established yet (initial listing)"
    return None


@dataclass
class _Stream:
    paused: Callable[[], bool]
    listed: bool = False


class Readiness:
    """The observations, from kopf's event loop and the API check thread; thread-safe."""

    def __init__(self, clock: Clock, tolerance: float, server: str) -> None:
        self.clock, self.tolerance, self.server = clock, tolerance, server
        self._lock = threading.Lock()
        self._streams: dict[Stream, _Stream] = {}
        self._failing_since: datetime | None = None
        self._failure = ""
        self._logged: datetime | None = None

    def stream_started(self, stream: Stream, paused: Callable[[], bool]) -> None:
        with self._lock:
            self._streams[stream] = _Stream(paused)

    def stream_listed(self, stream: Stream) -> None:
        with self._lock:
            if stream in self._streams:
                self._streams[stream].listed = True

    def stream_ended(self, stream: Stream) -> None:
        with self._lock:
            self._streams.pop(stream, None)

    def observed(self) -> Observed:
        with self._lock:
            streams = {key: _state(s) for key, s in self._streams.items()}
            return Observed(streams, self._failing_since, self._failure, self.server)

    def paused(self) -> bool:
        """kopf has paused its watches: a peering standby, whose peer acts."""
        with self._lock:
            return any(s.paused() for s in self._streams.values())

    def reason(self) -> str | None:
        return unready_reason(self.observed(), self.clock(), self.tolerance)

    def contact(self, failure: str | None) -> None:
        """Record one check of the API server: `failure` is None when it answered."""
        now = self.clock()
        with self._lock:
            since = self._failing_since
            self._failing_since = None if failure is None else since or now
            self._failure = failure or ""
        if failure is None and since is not None:
            log.info("the API server at %s answers again, after %.0fs", self.server, _seconds(since, now))
        elif failure is not None and since is None:
            self._logged = now
            log.warning(
                "cannot reach the API server at %s: %s (asking again every %gs, not ready after %gs)",
                self.server,
                failure,
                CHECK_SECONDS,
                self.tolerance,
            )
        elif failure is not None and _seconds(self._logged or now, now) >= LOG_EVERY_SECONDS:
            self._logged = now
            log.warning(
                "still cannot reach the API server at %s after %.0fs: %s",
                self.server,
                _seconds(since or now, now),
                failure,
            )


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def _state(stream: _Stream) -> str:
    if stream.listed:
        return LISTED
    return PAUSED if stream.paused() else LISTING


def watch_api(
    kube: Kube, readiness: Readiness, stop: threading.Event, interval: float = CHECK_SECONDS
) -> None:
    """Ask the API server every `interval` seconds until `stop` is set (a daemon thread)."""
    while True:
        readiness.contact(kube.probe())
        if stop.wait(interval):
            return


def observing(
    original: Callable[..., AsyncIterator[Any]], readiness: Readiness, listed: object
) -> Callable[..., AsyncIterator[Any]]:
    """`infinite_watch` reporting the streams of our kinds to `readiness`; others pass through."""

    async def infinite_watch(**kwargs: Any) -> AsyncIterator[Any]:
        resource = kwargs["resource"]
        if resource.group != GROUP or resource.plural not in KINDS:
            async for event in original(**kwargs):
                yield event
            return
        stream: Stream = (resource.plural, kwargs.get("namespace"))
        paused = kwargs.get("operator_paused")
        readiness.stream_started(stream, paused.is_on if paused is not None else lambda: False)
        try:
            async for event in original(**kwargs):
                if event is listed:
                    readiness.stream_listed(stream)
                yield event
        finally:
            readiness.stream_ended(stream)

    return infinite_watch


def observe_kopf_watches(readiness: Readiness) -> None:
    """Route kopf's watch streams through `observing`; once per process (main.run)."""
    from kopf._cogs.clients import watching

    wrapper = observing(watching.infinite_watch, readiness, watching.Bookmark.LISTED)
    watching.infinite_watch = wrapper
