"""What every reconcile needs, bundled once at operator start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlmodel_operator.clock import Clock
from mlmodel_operator.config import Config
from mlmodel_operator.events import EventPoster
from mlmodel_operator.k8s.client import Kube, object_path
from mlmodel_operator.k8s.compare import covers, with_manifest_hash
from mlmodel_operator.podcache import PodCache, PodWatches
from mlmodel_operator.watchcache import Store, UsersIndex
from mlmodel_operator.workqueue import WorkQueue

# How long a pass waits for the pod watch's first listing (operator start) before it fails
# and is retried with the queue's backoff.
POD_SYNC_SECONDS = 10.0


def _no_handler(key: object) -> None:
    raise RuntimeError(f"no reconcile handler installed for {key}")


@dataclass
class Runtime:
    """Config, API access, the injectable clock, the event poster, and the watch caches.

    `paused` tells whether kopf paused its watches (a peering standby): such an operator
    must not act on what its own pod watch reports.
    """

    config: Config
    kube: Kube
    clock: Clock
    post: EventPoster
    store: Store = field(default_factory=Store)
    users: UsersIndex = field(default_factory=UsersIndex)
    queue: WorkQueue = field(default_factory=lambda: WorkQueue(_no_handler, workers=0))
    pods: PodCache = field(default_factory=PodCache)
    pod_watches: PodWatches | None = None
    paused: Callable[[], bool] = lambda: False

    def stop(self) -> None:
        """At shutdown: queued reconciles are dropped, and requests stop retrying."""
        self.queue.stop()
        self.kube.stopping.set()
        if self.pod_watches is not None:
            self.pod_watches.stop()

    def resume(self) -> None:
        """At (re)start: supervisor.py may start kopf again after its cleanup ran."""
        self.kube.stopping.clear()
        self.queue.start()
        if self.pod_watches is not None:
            self.pod_watches.start()

    def pods_of(self, owner: dict[str, Any]) -> list[dict[str, Any]]:
        """The owner's pods as the pod watch last reported them (podcache.py).

        Raises until the watch has listed them once: an empty cache at operator start would
        otherwise read as "no pods" and write a wrong status.
        """
        if not self.pods.wait_synced(POD_SYNC_SECONDS):
            raise RuntimeError(f"the pods have not been listed within {POD_SYNC_SECONDS:g}s")
        meta = owner["metadata"]
        return self.pods.of(owner["kind"], meta["namespace"], meta["name"])

    def read(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A watched object from the store, else from the API server (and then stored)."""
        cached = self.store.get(kind, namespace, name)
        if cached is not None:
            return cached
        live = self.kube.get(object_path(api_version, kind, namespace, name))
        if live is not None:
            self.store.put(live)
        return live

    def ensure(self, obj: dict[str, Any], surely_new: bool = False) -> bool:
        """Server-side apply `obj` unless the stored/live object covers it; True if written.

        `surely_new`: the owner was never reconciled, so a child the store has not seen
        does not exist; apply creates it without a GET that would only answer 404.
        """
        obj = with_manifest_hash(obj)
        meta = obj["metadata"]
        if surely_new and self.store.get(obj["kind"], meta["namespace"], meta["name"]) is None:
            self.store.put(self.kube.apply(obj))
            return True
        live = self.read(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        if live is not None and covers(live, obj):
            return False
        self.store.put(self.kube.apply(obj))
        return True
