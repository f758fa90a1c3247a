"""The `restricted` Pod Security Standard, spelled out once.

Inference pods run untrusted-ish model files next to a network server, so they
get the strictest profile Kubernetes defines; namespaces enforcing
`pod-security.kubernetes.io/enforce: restricted` accept them unchanged.
"""

from __future__ import annotations

from typing import Any

RUN_AS_USER = 65532  # the distroless "nonroot" user


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
