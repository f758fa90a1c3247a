"""The inference pods, followed by one LIST and a WATCH per scope (client-go's reflector).

Why: every reconcile of a serving owner computes status from its pods. Listing them per pass
cost a request per pass, and one per service per resync when nothing happens. Here one
label-filtered watch delivers each change once, and a pass reads the pods from memory.

Why not kopf's watch: kopf does not say when a re-listing (after `410 Gone`) is complete,
so a pod deleted while the watch was down would stay in a store fed by its events, and
status would count a pod that is gone. A LIST here replaces the whole set of its scope.
Only the fields status and the pod readers use are kept (`slim`), so memory grows little
with the pods.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from mlmodel_operator.builders.common import MANAGED_BY, NAME, OWNER_KIND
from mlmodel_operator.k8s.client import ApiError, Kube, collection_path, failure_text
from mlmodel_operator.metrics import API_REQUESTS
from mlmodel_operator.workqueue import failure_delay

log = logging.getLogger("mlmodel_operator.pods")

Key = tuple[str, str, str]  # the owner's work queue key: (kind, namespace, name)
Scope = str | None  # a namespace, or None: the whole cluster
SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/name={NAME}"
# The API server ends each watch after this long; the next one resumes where it ended.
WATCH_SECONDS = 300
# No byte for this long (events and the API server's bookmarks come more often): the
# connection is gone without a word, and the pods are listed again.
SILENT_SECONDS = 150.0
_ANNOTATION_PREFIX = "mlmodel.dev/"
_STATUS = ("phase", "podIP", "conditions", "initContainerStatuses", "containerStatuses")


def slim(pod: dict[str, Any]) -> dict[str, Any]:
    """The fields the operator reads: labels, our annotations, deletion, node and status."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    notes = {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith(_ANNOTATION_PREFIX)}
    kept = ("name", "namespace", "uid", "resourceVersion", "labels", "deletionTimestamp")
    return {
        "metadata": {**{k: meta[k] for k in kept if k in meta}, "annotations": notes},
        "spec": {"nodeName": (pod.get("spec") or {}).get("nodeName")},
        "status": {k: status[k] for k in _STATUS if k in status},
    }


def owner_key(pod: dict[str, Any]) -> Key | None:
    """The owner a pod belongs to, from the labels every inference pod carries."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    kind = OWNER_KIND.get(labels.get("app.kubernetes.io/component", ""))
    owner = labels.get("app.kubernetes.io/instance")
    if not (kind and owner and meta.get("namespace")):
        return None
    return kind, str(meta["namespace"]), str(owner)


class PodCache:
    """Slimmed pods by owner; `wait_synced` is true once every scope has been listed.

    A cache without scopes (the unit tests') is synced from the start and empty.
    """

    def __init__(self, scopes: Iterable[Scope] = ()) -> None:
        self._cond = threading.Condition()
        self._pods: dict[tuple[str, str], tuple[Key, dict[str, Any]]] = {}
        self._by_owner: dict[Key, dict[str, dict[str, Any]]] = {}
        self._unlisted: set[Scope] = set(scopes)

    def of(self, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
        with self._cond:
            return list((self._by_owner.get((kind, namespace, name)) or {}).values())

    def wait_synced(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._unlisted, timeout)

    def apply(self, type_: str, pod: dict[str, Any]) -> set[Key]:
        """One watch event; the owners whose pods it changed (two when it was relabelled)."""
        key = owner_key(pod)
        with self._cond:
            changed = self._drop(_ref(pod))
            if key is not None and type_ != "DELETED":
                changed.add(self._put(key, slim(pod)))
        return changed

    def replace(self, scope: Scope, pods: list[dict[str, Any]]) -> set[Key]:
        """A complete listing of `scope`; the owners whose pods it changed."""
        listed = {_ref(p): (key, p) for p in pods if (key := owner_key(p))}
        changed: set[Key] = set()
        with self._cond:
            for ref in [r for r in self._pods if (scope is None or r[0] == scope) and r not in listed]:
                changed.update(self._drop(ref))
            for ref, (key, pod) in listed.items():
                old = self._pods.get(ref)
                if old is None or old[0] != key or _revision(old[1]) != _revision(pod):
                    changed.update(self._drop(ref))
                    changed.add(self._put(key, slim(pod)))
            self._unlisted.discard(scope)
            self._cond.notify_all()
        return changed

    def _put(self, key: Key, pod: dict[str, Any]) -> Key:
        ref = _ref(pod)
        self._pods[ref] = (key, pod)
        self._by_owner.setdefault(key, {})[ref[1]] = pod
        return key

    def _drop(self, ref: tuple[str, str]) -> set[Key]:
        """Forget one pod; its owner, if it was known."""
        found = self._pods.pop(ref, None)
        if found is None:
            return set()
        pods = self._by_owner[found[0]]
        del pods[ref[1]]
        if not pods:
            del self._by_owner[found[0]]
        return {found[0]}


def _ref(pod: dict[str, Any]) -> tuple[str, str]:
    meta = pod["metadata"]
    return str(meta["namespace"]), str(meta["name"])


def _revision(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("resourceVersion", ""))


class PodWatch:
    """Lists and watches the inference pods of one scope into a `PodCache` (a daemon thread).

    `changed` is called with each owner whose pods changed, after the cache has the change.
    A failure is logged and followed by a fresh LIST, after 0.5, 1, 2, ... up to 30 s.
    """

    def __init__(self, kube: Kube, cache: PodCache, scope: Scope, changed: Callable[[Key], None]) -> None:
        self.kube, self.cache, self.scope, self.changed = kube, cache, scope, changed
        self.path = collection_path("v1", "Pod", scope) if scope else "/api/v1/pods"

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                version: str | None = self._list()
                failures = 0
                while version and not stop.is_set():
                    version = self._watch(version)
            except Exception as exc:
                failures += 1
                log.warning(
                    "pod watch (%s) failed, listing again: %s", self.scope or "all", failure_text(exc)
                )
                stop.wait(failure_delay(failures, cap=30.0))

    def _list(self) -> str:
        """All pods of the scope from the API server's watch cache; returns the list's version."""
        query = {"labelSelector": SELECTOR, "resourceVersion": "0"}
        body = self.kube.request("GET", self.path, query=query) or {}
        for key in self.cache.replace(self.scope, list(body.get("items") or [])):
            self.changed(key)
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, version: str) -> str | None:
        """One watch from `version`; the version to resume from, None to list again (410)."""
        import httpx2

        params = {
            "watch": "true",
            "labelSelector": SELECTOR,
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        timeout = httpx2.Timeout(SILENT_SECONDS, connect=5.0)
        with self.kube.http.stream("GET", self.path, params=params, timeout=timeout) as resp:
            API_REQUESTS.labels("WATCH", str(resp.status_code)).inc()
            if resp.status_code == 410:
                return None
            if not resp.is_success:
                resp.read()
                raise ApiError.from_response("WATCH", self.path, resp)
            for line in resp.iter_lines():
                resumed = self._event(json.loads(line), version) if line else version
                if resumed is None:
                    return None
                version = resumed
        return version

    def _event(self, event: dict[str, Any], version: str) -> str | None:
        obj = event.get("object") or {}
        if event.get("type") == "ERROR":
            if obj.get("code") == 410:
                return None  # the version is too old: list again
            raise ApiError(int(obj.get("code") or 500), "", json.dumps(obj), "WATCH", self.path)
        if event.get("type") != "BOOKMARK":
            for key in self.cache.apply(str(event.get("type")), obj):
                self.changed(key)
        return str((obj.get("metadata") or {}).get("resourceVersion") or version)


class PodWatches:
    """One `PodWatch` per watched namespace (or one for the cluster), started once."""

    def __init__(self, watches: list[PodWatch]) -> None:
        self.watches = watches
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._threads:
            return
        for watch in self.watches:
            name = f"pod-watch-{watch.scope or 'all'}"
            thread = threading.Thread(target=watch.run, args=(self._stop,), name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
