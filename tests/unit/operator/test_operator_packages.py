"""Latest resolution, pinning, blocking a bad checksum, placeholder substitution."""

from __future__ import annotations

import pytest

from mlmodel_operator.packages import (
    UnknownPackageError,
    fingerprint,
    latest_version,
    resolve,
    substitute,
)

SHA = "c" * 64


def v(version: str, **kw: object) -> dict:
    return {"version": version, "source": {"url": f"https://x/{version}.tflite"}, "sha256": SHA, **kw}


def test_latest_marker_wins() -> None:
    versions = [v("1", created="2024-09-01T00:00:00Z", latest=True), v("2", created="2024-10-01T00:00:00Z")]
    assert latest_version(versions)["version"] == "1"


def test_newest_created_without_marker() -> None:
    versions = [v("b", created="2024-10-01T00:00:00Z"), v("a", created="2024-09-01T00:00:00Z")]
    assert latest_version(versions)["version"] == "b"


def test_last_listed_without_dates() -> None:
    assert latest_version([v("1.2.0"), v("1.10.0"), v("1.3.0")])["version"] == "1.3.0"


def test_empty() -> None:
    assert latest_version([]) is None


def checked(version: dict, **entry: object) -> dict:
    """The status entry the ModelPackage reconcile writes for `version`."""
    return {
        "version": version["version"],
        "fingerprint": fingerprint(version),
        "verified": "True",
        "reason": "Verified",
        "sha256": version.get("sha256"),
        **entry,
    }


def package(*versions: dict, status: list | None = None) -> dict:
    entries = status if status is not None else [checked(v) for v in versions]
    return {"spec": {"versions": list(versions)}, "status": {"versions": entries}}


REF = {"name": "fruit", "package": "fruitpkg"}


def test_resolve_latest_and_pinned() -> None:
    pkg = package(v("1"), v("2"))
    assert resolve([REF], {"fruitpkg": pkg}).packages[0].version == "2"
    pinned = resolve([{**REF, "version": "1"}], {"fruitpkg": pkg}).packages[0]
    assert (pinned.version, pinned.sha256, pinned.requested) == ("1", SHA, "1")


@pytest.mark.parametrize(
    "packages, ref, reason",
    [
        ({}, REF, "PackageNotFound"),
        ({"fruitpkg": package(v("1"))}, {**REF, "version": "9"}, "VersionNotFound"),
    ],
)
def test_resolve_failures(packages: dict, ref: dict, reason: str) -> None:
    result = resolve([ref], packages)
    assert not result.ok and result.reason == reason


def test_checksum_mismatch_is_never_resolved() -> None:
    bad = checked(v("2"), verified="False", reason="ChecksumMismatch", message="mismatch")
    result = resolve([REF], {"fruitpkg": package(v("1"), v("2"), status=[checked(v("1")), bad])})
    assert (result.ok, result.reason) == (False, "ChecksumMismatch")


def test_unchecked_or_stale_versions_wait_for_verification() -> None:
    assert resolve([REF], {"fruitpkg": package(v("1"), status=[])}).reason == "PackageNotVerified"
    stale = {**checked(v("1")), "fingerprint": "old"}
    assert resolve([REF], {"fruitpkg": package(v("1"), status=[stale])}).reason == "PackageNotVerified"


def test_configmap_digest_comes_from_verification() -> None:
    cm = {"version": "1", "source": {"configMap": {"name": "c", "key": "k"}}}
    computed = checked(cm, sha256=SHA)
    assert resolve([REF], {"fruitpkg": package(cm, status=[computed])}).packages[0].sha256 == SHA


def test_unverifiable_versions_deploy_with_the_declared_digest() -> None:
    unknown = checked(v("1"), verified="Unknown", reason="FetchUnreachable", sha256=None)
    assert resolve([REF], {"fruitpkg": package(v("1"), status=[unknown])}).packages[0].sha256 == SHA


def test_substitution() -> None:
    assert substitute("${packages.fruit}/m.tflite", {"fruit"}) == "/models/fruit/m.tflite"
    assert substitute("${packages.ml_model.fruit}/l.txt", {"fruit"}) == "/models/fruit/l.txt"
    assert substitute("/abs/m.tflite", set()) == "/abs/m.tflite"
    with pytest.raises(UnknownPackageError, match="nope"):
        substitute("${packages.nope}/m.tflite", {"fruit"})
