"""A throw-away namespace per test, shared by the session and the fault-injection fixtures."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from localcluster import wait_until


def namespace_name(test_name: str, prefix: str) -> str:
    """DNS-1123 name that tells which test made it, unique across reruns."""
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"{prefix}-{slug}-{secrets.token_hex(3)}"


@contextmanager
def restricted_namespace(
    api: client.ApiClient, name: str, labels: Mapping[str, str], timeout: float
) -> Iterator[str]:
    """Create `name`, wait for its default ServiceAccount, delete it afterwards.

    Until the controller creates the ServiceAccount, the ServiceAccount admission
    plugin rejects every pod, which would mask other errors.
    """
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=dict(labels))))
    wait_until(
        lambda: core.list_namespaced_service_account(name, field_selector="metadata.name=default").items,
        what=f"the default ServiceAccount in {name}",
        timeout=timeout,
    )
    yield name
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise
    except urllib3.exceptions.MaxRetryError:
        pass  # the cluster itself is gone (the e2e tier's last test stops it), and the namespace with it
