"""ModelPackage status from per-version checks (pure)."""

from __future__ import annotations

from typing import Any

from mlmodel_operator.packages import BLOCKING_REASONS, latest_version
from mlmodel_operator.status.conditions import FALSE, TRUE, UNKNOWN, Cond


def verified_condition(entries: list[dict[str, Any]]) -> Cond:
    """False if any version is known bad, Unknown if some could not be checked."""
    bad = [e for e in entries if e.get("verified") == FALSE]
    if bad:
        names = ", ".join(f"{e['version']} ({e['reason']})" for e in bad)
        return Cond("Verified", FALSE, bad[0]["reason"], f"failed verification: {names}")
    unknown = [e["version"] for e in entries if e.get("verified") != TRUE]
    if unknown:
        return Cond(
            "Verified", UNKNOWN, "Unverified", f"checked by the init container only: {', '.join(unknown)}"
        )
    return Cond("Verified", TRUE, "Verified", f"{len(entries)} version(s) verified")


def ready_condition(spec: dict[str, Any], entries: list[dict[str, Any]]) -> Cond:
    """Ready means `latest` can be deployed: it exists and is not known to be bad."""
    latest = latest_version(spec.get("versions") or [])
    if latest is None:
        return Cond("Ready", FALSE, "NoVersions", "spec.versions is empty")
    entry = next((e for e in entries if e["version"] == latest["version"]), {})
    if entry.get("reason") in BLOCKING_REASONS:
        return Cond(
            "Ready", FALSE, entry["reason"], f"latest version {latest['version']}: {entry.get('message', '')}"
        )
    return Cond("Ready", TRUE, "LatestAvailable", f"latest version is {latest['version']}")


def package_status(spec: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything but the stamped conditions."""
    latest = latest_version(spec.get("versions") or [])
    return {"latestVersion": latest["version"] if latest else None, "versions": entries}
