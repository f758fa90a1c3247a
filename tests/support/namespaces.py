"""A throw-away namespace per test, shared by the session and the fault-injection fixtures."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress

import httpx2

from localcluster import wait_until
from mlmodel_operator.k8s.client import ApiError, Kube
from mlmodel_operator.k8s.retry import RetryPolicy

# Teardown: a few quick tries, so a cluster that is already gone does not hold it up.
TEARDOWN = RetryPolicy(attempts=3, deadline=5)


def namespace_name(test_name: str, prefix: str) -> str:
    """DNS-1123 name that tells which test made it, unique across reruns."""
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"{prefix}-{slug}-{secrets.token_hex(3)}"


@contextmanager
def restricted_namespace(kube: Kube, name: str, labels: Mapping[str, str], timeout: float) -> Iterator[str]:
    """Create `name`, wait for its default ServiceAccount, delete it afterwards.

    Until the controller creates the ServiceAccount, the ServiceAccount admission
    plugin rejects every pod, which would mask other errors.
    """
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}
    kube.request("POST", "/api/v1/namespaces", body=body)
    wait_until(
        lambda: kube.get(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
        what=f"the default ServiceAccount in {name}",
        timeout=timeout,
    )
    yield name
    # A transport error: the cluster itself is gone (the e2e tier's last test stops it), and the
    # namespace with it.
    with suppress(httpx2.TransportError):
        delete_namespace(Kube(kube.http, policy=TEARDOWN), name)


def delete_namespace(kube: Kube, name: str) -> None:
    """Background propagation: the namespace controller removes the contents; gone is fine."""
    try:
        kube.request("DELETE", f"/api/v1/namespaces/{name}", query={"propagationPolicy": "Background"})
    except ApiError as exc:
        if exc.status != 404:
            raise
