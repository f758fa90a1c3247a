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

    def run(self, key: tuple[str, ...], fn: Callable[[], Any]) -> None:
        with self._guard:
            if key in self._queued:
                return
            self._queued.add(key)
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                self._queued.discard(key)
            fn()


@dataclass
class Runtime:
    """Config, API access, the injectable clock, and the event poster."""

    config: Config
    kube: Kube
    clock: Clock
    post: EventPoster
    coalescer: Coalescer = field(default_factory=Coalescer)
