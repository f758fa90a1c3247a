"""The kopf peering object, created when it is missing.

With peering on, kopf starts every replica paused and only resumes one after it
has seen the peering object (a `ClusterKopfPeering` for a cluster-wide operator,
a `KopfPeering` in each watched namespace otherwise). kopf never creates that
object, so a forgotten one leaves every replica paused forever, silently. The
operator creates it at start-up; the Helm chart creates it too and grants no
`create`, in which case a 403 here is expected and only logged.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from mlmodel_operator.k8s.client import ApiError, Kube

log = logging.getLogger("mlmodel_operator.peering")
API = "kopf.dev/v1"
_GLOB = frozenset("*?!,")


def peering_objects(name: str, namespaces: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, manifest) of every peering object the operator needs.

    Namespace globs (`team-*`, `!kube-*`) cannot be listed in advance: objects in the
    namespaces they match must be created by whoever creates the namespace.
    """
    if not namespaces:
        return [(f"/apis/{API}/clusterkopfpeerings", _manifest("ClusterKopfPeering", name))]
    return [
        (f"/apis/{API}/namespaces/{quote(ns, safe='')}/kopfpeerings", _manifest("KopfPeering", name, ns))
        for ns in namespaces
        if not _GLOB & set(ns)
    ]


def _manifest(kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/managed-by": "mlmodel-operator"}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": API, "kind": kind, "metadata": meta}


def ensure_peering(kube: Kube, name: str, namespaces: tuple[str, ...]) -> int:
    """Create the peering objects that do not exist yet; returns how many were created.

    Reads first, so an install that may only get/patch them (the Helm chart, which
    creates them itself) stays quiet. A 403/404 on create (no permission, CRDs not
    installed) is logged and left to the installer: kopf waits for the object.
    """
    if any(_GLOB & set(ns) for ns in namespaces):
        log.warning("peering %r: create a KopfPeering in every namespace the globs match", name)
    created = 0
    for path, body in peering_objects(name, namespaces):
        if kube.get(f"{path}/{quote(name, safe='')}") is not None:
            continue
        try:
            kube.request("POST", path, body=body)
        except ApiError as exc:
            if exc.status == 409:  # created by another replica in the meantime
                continue
            if exc.status not in (403, 404):
                raise
            log.warning(
                "cannot create %s %r (HTTP %s): kopf keeps this operator paused until it exists",
                body["kind"],
                name,
                exc.status,
            )
            continue
        created += 1
        log.info("created %s %r (%s)", body["kind"], name, path)
    return created
