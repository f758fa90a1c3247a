"""What every reconcile needs, bundled once at operator start."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlmodel_operator.clock import Clock
from mlmodel_operator.config import Config
from mlmodel_operator.events import EventPoster
from mlmodel_operator.k8s.client import Kube


class Coalescer:
    """Serialises reconciles of one object and collapses bursts of triggers.

    Owners are reconciled from their own watch events, from their children's
    events and from timers, in different kopf workers. Each reconcile reads
    fresh state, so if one is already queued behind a running one, another
    trigger adds nothing and is dropped.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, ...], threading.Lock] = {}
        self._queued: set[tuple[str, ...]] = set()
        # Set at shutdown: queued and new reconciles are dropped. kopf's worker threads are
        # joined at exit only after running every handler still queued; without this a busy
        # operator took 30 s to stop after SIGTERM and was SIGKILLed, which also delays a
        # peering handover by the whole lifetime (a clean exit hands over at once).
        self.stopped = threading.Event()

    def run(self, key: tuple[str, ...], fn: Callable[[], Any]) -> None:
        with self._guard:
            if key in self._queued or self.stopped.is_set():
                return
            self._queued.add(key)
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                self._queued.discard(key)
            if not self.stopped.is_set():
                fn()


@dataclass
class Runtime:
    """Config, API access, the injectable clock, and the event poster."""

    config: Config
    kube: Kube
    clock: Clock
    post: EventPoster
    coalescer: Coalescer = field(default_factory=Coalescer)

    def stop(self) -> None:
        """At shutdown: no new reconciles, and requests stop retrying."""
        self.coalescer.stopped.set()
        self.kube.stopping.set()

    def resume(self) -> None:
        """At (re)start: supervisor.py may start kopf again after its cleanup ran."""
        self.coalescer.stopped.clear()
        self.kube.stopping.clear()
