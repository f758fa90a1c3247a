"""What the watch streams already told us: object bodies and who uses what.

Why: kopf delivers every owner, Deployment, Service, ConfigMap, NetworkPolicy
and EndpointSlice body as a watch event anyway. Keeping the latest one lets a
reconcile read its owner, packages and children without a GET each per pass
(controller-runtime's cache does the same), and the users index answers
"which services use package P" without LISTing every service on each event.

Bodies are kept as compact JSON bytes, not as dicts: a parsed Deployment is
several times its JSON's size in Python objects, and the store holds the
owner and every child of every service. A read parses the one body it needs
(tens of microseconds), and hands out a copy nobody else shares.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import orjson

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


class _Entry(NamedTuple):
    revision: int | None
    labels: Mapping[str, str]  # for `labelled`, which must not parse every body
    json: bytes


def _entry(body: dict[str, Any]) -> _Entry:
    labels = (body.get("metadata") or {}).get("labels") or {}
    return _Entry(_revision(body), dict(labels), orjson.dumps(body))


def _not_older(revision: int | None, stored: _Entry | None) -> bool:
    """Whether a body (or a deletion) at `revision` may replace `stored`: unless both
    revisions are known and it is the older one."""
    return stored is None or stored.revision is None or revision is None or revision >= stored.revision


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
        self._bodies: dict[Key, _Entry] = {}

    def put(self, body: dict[str, Any]) -> None:
        entry = _entry(_slim(body))
        key = key_of(body)
        with self._lock:
            if _not_older(entry.revision, self._bodies.get(key)):
                self._bodies[key] = entry

    def remove(self, body: dict[str, Any]) -> None:
        key, gone = key_of(body), _revision(body)
        with self._lock:
            old = self._bodies.get(key)
            if old is not None and _not_older(gone, old):
                del self._bodies[key]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._bodies.get((kind, namespace, name))
        return orjson.loads(entry.json) if entry is not None else None

    def __contains__(self, key: Key) -> bool:
        with self._lock:
            return key in self._bodies

    def labelled(self, kind: str, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """The stored `kind` objects of `namespace` carrying all of `labels`: a label selector's
        LIST from memory, for children named by someone else (a controller's EndpointSlices)."""
        wanted = labels.items()
        with self._lock:
            found = [
                e.json
                for k, e in self._bodies.items()
                if k[:2] == (kind, namespace) and wanted <= e.labels.items()
            ]
        return [orjson.loads(body) for body in found]

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
