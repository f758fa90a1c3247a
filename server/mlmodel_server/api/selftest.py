"""`GET /v1/selftest`: each model's last self-test (selftest.py), for people and tools.

The operator does not poll it: a pod's readiness already says the self-test passed
(docs/operator.md, InferenceVerified). It answers what readiness cannot: what was checked,
when, and how long the model took.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..dataplane import DataPlane


def router(dataplane: DataPlane) -> APIRouter:
    api = APIRouter(tags=["health"])

    @api.get("/v1/selftest")
    async def selftest() -> dict[str, Any]:
        return {
            "ready": dataplane.ready,
            "models": [
                {"name": name, "version": dataplane.models[name].version, **result.to_json()}
                for name, result in dataplane.results.items()
            ],
        }

    return api
