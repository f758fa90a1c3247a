"""What the watch streams already told us: object bodies and who uses what.

Why: kopf delivers every owner, Deployment, Service, ConfigMap, NetworkPolicy
and EndpointSlice body as a watch event anyway. Keeping the latest one lets a
reconcile read its owner, packages and children without a GET each per pass
(controller-runtime's cache does the same), and the users index answers
"which services use package P" without LISTing every service on each event.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

Key = tuple[str, str, str]  # (kind, namespace, name)


def _revision(body: dict[str, Any]) -> int | None:
    try:
        return int(body["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return None


def _slim(body: dict[str, Any]) -> dict[str, Any]:
    """Without managedFields: often half of a body, and no reconcile reads them."""
    meta = body.get("metadata") or {}
    if "managedFields" not in meta:
        return body
    return {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def key_of(body: dict[str, Any]) -> Key:
    meta = body["metadata"]
    return str(body.get("kind", "")), str(meta.get("namespace", "")), str(meta["name"])


class Store:
    """Latest body per object; an older body never replaces a newer one.

    A write's response and the watch event of the same write race each other,
    so bodies are ordered by resourceVersion (etcd revisions, integers in
    practice; anything else simply replaces).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: dict[Key, dict[str, Any]] = {}

    def put(self, body: dict[str, Any]) -> None:
        body = _slim(body)
        key, new = key_of(body), _revision(body)
        with self._lock:
            old = _revision(self._bodies.get(key) or {})
            if old is None or new is None or new >= old:
                self._bodies[key] = body

    def remove(self, body: dict[str, Any]) -> None:
        key, gone = key_of(body), _revision(body)
        with self._lock:
            old = _revision(self._bodies.get(key) or {})
            if old is None or gone is None or gone >= old:
                self._bodies.pop(key, None)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._bodies.get((kind, namespace, name))

    def labelled(self, kind: str, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """The stored `kind` objects of `namespace` carrying all of `labels`: a label selector's
        LIST from memory, for children named by someone else (a controller's EndpointSlices)."""
        wanted = labels.items()
        with self._lock:
            bodies = [b for k, b in self._bodies.items() if k[:2] == (kind, namespace)]
        return [b for b in bodies if wanted <= (b["metadata"].get("labels") or {}).items()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._bodies)


class UsersIndex:
    """Who refers to whom within a namespace: services to packages, visions to services."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: dict[Key, frozenset[str]] = {}

    def set(self, user: Key, refs: Iterable[str]) -> None:
        with self._lock:
            self._refs[user] = frozenset(refs)

    def drop(self, user: Key) -> None:
        with self._lock:
            self._refs.pop(user, None)

    def users(self, kind: str, namespace: str, ref: str) -> list[str]:
        """Names of the `kind` objects in `namespace` that refer to `ref`."""
        with self._lock:
            found = [k[2] for k, refs in self._refs.items() if k[:2] == (kind, namespace) and ref in refs]
        return sorted(found)


def references(kind: str, spec: dict[str, Any]) -> set[str]:
    """What an owner's spec refers to: package names, or the vision's MLModelService."""
    if kind == "MLModelService":
        return {str(p.get("package")) for p in spec.get("packages") or [] if p.get("package")}
    if kind == "VisionService":
        return {str(spec["mlmodelName"])} if spec.get("mlmodelName") else set()
    return set()
