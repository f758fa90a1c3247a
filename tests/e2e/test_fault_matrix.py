"""The fault matrix on the real node: each fault injected into a Ready service under a steady
stream of requests through its Service. For each, the time from injection to the right
reason in status, whether any request failed, and that Ready never claimed the bad version.

The rows the other modules already cover are printed by them (test_bad_versions.py: wrong
sha256, not TFLite, a model no VisionService can use; test_inference_verified.py: a wrong
answer to the output_example; test_lifecycle.py: a server killed mid-stream). These are the
faults a user causes by a package's contents or by the service's own spec.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.packages import MODELS, cm_version, configmap, mlmodel, package, tarball
from tests.e2e.scenarios import BODY, path, serving_address, version_of
from tests.e2e.traffic import Stream
from tests.support.objects import Objects

MODEL = (MODELS / "classifier_float32.tflite").read_bytes()
LABELS = (MODELS / "classifier_labels.txt").read_bytes()  # 4 classes, as the model has
KEY = "package.tar.gz"
HOLD = 10.0  # seconds the stream keeps running once status named the fault
ROWS: list[tuple[str, str, float, str]] = []


@pytest.fixture(scope="module", autouse=True)
def matrix() -> Iterator[None]:
    """Print the rows of this module as one table at its end."""
    yield
    print("\n[e2e] fault matrix on the real node:")
    print("| fault | reason in status | seconds to it | requests (failed) |")
    for fault, reason, took, traffic in ROWS:
        print(f"| {fault} | {reason} | {took:.1f} | {traffic} |")


def archive(**files: bytes) -> bytes:
    return tarball(dict(files))


def publish_v2(objs: Objects, data: bytes) -> None:
    objs.create(configmap("m-2", KEY, data))
    versions = [cm_version("1", "m-1", KEY, archive(**{"model.tflite": MODEL, "labels.txt": LABELS})),
                cm_version("2", "m-2", KEY, data, latest=True)]  # fmt: skip
    objs.patch("ModelPackage", "m", {"spec": {"versions": versions}})


def patch_spec(objs: Objects, spec: dict[str, Any]) -> None:
    objs.patch("MLModelService", "m", {"spec": spec})


FAULTS: dict[str, tuple[Callable[[Objects], None], str]] = {
    "model file missing from the archive": (
        lambda objs: publish_v2(objs, archive(**{"other.tflite": MODEL, "labels.txt": LABELS})),
        "ModelFileMissing"),
    "labels file does not match the model": (
        lambda objs: publish_v2(objs, archive(**{"model.tflite": MODEL, "labels.txt": b"red\ngreen\n"})),
        "LabelsMismatch"),
    "memory limit too low for the model": (
        lambda objs: patch_spec(objs, {"resources": {"limits": {"memory": "24Mi"}}}), "OOMKilled"),
    "resources no node has": (
        lambda objs: patch_spec(objs, {"resources": {"requests": {"cpu": "64"}}}), "Unschedulable"),
    "image that cannot be pulled": (
        lambda objs: patch_spec(objs, {"image": "localhost/not-there:1"}), "ErrImageNeverPull"),
}  # fmt: skip


def serve_v1(objs: Objects) -> tuple[str, int]:
    """Package `m` v1 (a classifier and its labels in one archive), a service following latest."""
    data = archive(**{"model.tflite": MODEL, "labels.txt": LABELS})
    objs.create(configmap("m-1", KEY, data))
    objs.create(package("m", cm_version("1", "m-1", KEY, data)))
    objs.create(mlmodel("m", "m", "model.tflite", "labels.txt"))
    return serving_address(objs, "m")


def status_text(objs: Objects) -> str:
    ready = objs.condition("MLModelService", "m", "Ready")
    return f"{objs.status('MLModelService', 'm').get('phase')} {ready.get('reason')}: {ready.get('message')}"


def serving(objs: Objects) -> list[str]:
    return [p.get("version") for p in objs.status("MLModelService", "m").get("servingPackages") or []]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_named_within_seconds_and_v1_keeps_serving(objs: Objects, fault: str) -> None:
    inject, reason = FAULTS[fault]
    address = serve_v1(objs)
    with Stream(address, path("m"), BODY, version_of) as stream:
        time.sleep(2)
        t0 = time.monotonic()
        inject(objs)
        objs.wait(lambda: reason in status_text(objs), f"{reason} in status ({status_text(objs)})", 90)
        took = time.monotonic() - t0
        ready_claims = []
        deadline = time.monotonic() + HOLD
        while time.monotonic() < deadline:  # Ready stays honest: True only because v1 serves
            if objs.condition("MLModelService", "m", "Ready").get("status") == "True":
                ready_claims.append(serving(objs))
            time.sleep(1)
    ROWS.append((fault, reason, took, f"{stream.total} ({len(stream.failures)})"))
    print(f"\n[e2e] {fault}: {reason} after {took:.1f}s; {stream.summary()}; {status_text(objs)[:200]}")
    assert not stream.failures, stream.failures[:5]
    assert all(versions == ["1"] for versions in ready_claims), ready_claims
