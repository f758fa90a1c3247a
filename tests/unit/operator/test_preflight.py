"""What cannot serve is refused before it rolls out: the operator looks into the bytes it
reads (not TFLite, unreadable archive) and checks a service's model and labels paths
against the files a version holds; the running version keeps serving."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from helpers import inputs, owner, url_pkg
from tests.support.archives import tar_gz

from mlmodel_fetch.contents import Contents, FileFacts
from mlmodel_operator import preflight, verify
from mlmodel_operator.builders.children import build_deployment
from mlmodel_operator.builders.common import ANNOTATION_PACKAGES
from mlmodel_operator.config import Config
from mlmodel_operator.handlers.plans import plan_mlmodel
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.packages import Resolution, ResolvedPackage, package_file, resolve

MODELS = Path(__file__).resolve().parents[2] / "fixtures" / "models"
MODEL = (MODELS / "classifier_uint8.tflite").read_bytes()  # a classifier of 4 classes
LABELS = (MODELS / "classifier_labels.txt").read_bytes()  # its 4 labels
TEXT = b"this is a text file, not a model\n" * 10
MB = 1 << 20


def cm_version(version: str, key: str, data: bytes) -> dict[str, Any]:
    source = {"configMap": {"name": f"fruit-{version}", "key": key}}
    return {"version": version, "source": source, "sha256": hashlib.sha256(data).hexdigest()}


def checked(version: str, key: str, data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ModelPackage version and the status entry the operator writes for it."""
    spec = cm_version(version, key, data)
    cm = {"binaryData": {key: base64.b64encode(data).decode()}}
    return spec, verify.check_configmap(spec, lambda name: cm, MB)


# --- the ModelPackage: bytes the operator reads ----------------------------------------------


def test_a_text_file_with_a_correct_sha256_is_not_tflite() -> None:
    _, entry = checked("2", "model.tflite", TEXT)
    assert (entry["verified"], entry["reason"]) == ("False", "NotTFLite")
    assert entry["message"] == "model.tflite is not a TFLite flatbuffer (no TFL3 identifier)"
    pkg = {"spec": {"versions": [cm_version("2", "model.tflite", TEXT)]}, "status": {"versions": [entry]}}
    refused = resolve([{"name": "fruit", "package": "fruit"}], {"fruit": pkg})
    assert (refused.reason, refused.message) == (
        "NotTFLite",
        "fruit 2: model.tflite is not a TFLite flatbuffer (no TFL3 identifier)",
    )


def test_an_archive_that_cannot_be_read_is_invalid() -> None:
    _, entry = checked("2", "p.tar.gz", b"\x1f\x8b" + b"not gzip at all" * 4)
    assert (entry["verified"], entry["reason"]) == ("False", "InvalidArchive")
    assert entry["message"].startswith("cannot read tar.gz archive")


def test_a_verified_version_records_its_files() -> None:
    _, entry = checked("1", "p.tar.gz", tar_gz({"fruit/model.tflite": MODEL, "fruit/labels.txt": LABELS}))
    assert (entry["verified"], entry["reason"]) == ("True", "Verified")
    assert entry["files"] == [
        {"path": "fruit/model.tflite", "format": "TFLite", "classes": 4},
        {"path": "fruit/labels.txt", "format": "Text", "lines": 4},
    ]


def test_a_bare_labels_file_is_not_refused_on_its_own() -> None:
    _, entry = checked("1", "labels.txt", LABELS)
    assert entry["reason"] == "Verified" and entry["files"] == [
        {"path": "labels.txt", "format": "Text", "lines": 4}
    ]


# --- the service: its paths against the files ------------------------------------------------


def pinned(name: str, files: dict[str, FileFacts] | None, complete: bool = True) -> ResolvedPackage:
    known = Contents(tuple(files.values()), complete) if files is not None else None
    return ResolvedPackage(name, f"pkg-{name}", "latest", "2", "a" * 64, contents=known)


MODEL_FACTS = FileFacts("model.tflite", "TFLite", classes=4)
LABEL_FACTS = FileFacts("labels.txt", "Text", lines=4)


def check(*pkgs: ResolvedPackage, model: str = "${packages.m}/model.tflite", labels: str = "") -> Resolution:
    return preflight.check(Resolution(packages=pkgs), {"model_path": model, "label_path": labels})


@pytest.mark.parametrize(
    "files, labels, reason, message",
    [
        (
            {"other": FileFacts("other.tflite", "TFLite", classes=4)},
            "",
            "ModelFileMissing",
            "pkg-m 2: model file model.tflite is not in the package (it holds other.tflite)",
        ),
        (
            {"model": FileFacts("model.tflite", "Other")},
            "",
            "NotTFLite",
            "pkg-m 2: model file model.tflite is not a TFLite flatbuffer (no TFL3 identifier)",
        ),
        (
            {"model": MODEL_FACTS, "labels": FileFacts("labels.txt", "Text", lines=2)},
            "${packages.m}/labels.txt",
            "LabelsMismatch",
            "pkg-m 2: labels file labels.txt has 2 labels but model model.tflite has 4 classes",
        ),
        (
            {"model": MODEL_FACTS},
            "${packages.m}/labels.txt",
            "LabelsFileMissing",
            "pkg-m 2: labels file labels.txt is not in the package (it holds model.tflite)",
        ),
    ],
)
def test_paths_a_version_cannot_serve_are_refused(
    files: dict, labels: str, reason: str, message: str
) -> None:
    refused = check(pinned("m", files), labels=labels)
    assert (refused.ok, refused.reason, refused.message) == (False, reason, message)


def test_labels_in_another_package_are_checked_against_the_model() -> None:
    two = pinned("l", {"labels": FileFacts("l.txt", "Text", lines=3)})
    refused = check(pinned("m", {"model": MODEL_FACTS}), two, labels="${packages.l}/l.txt")
    assert (
        refused.message
        == "pkg-l 2: labels file l.txt has 3 labels but model model.tflite (pkg-m 2) has 4 classes"
    )


UNREAD_MODEL = FileFacts("model.tflite", "TFLite")  # its classes could not be read cheaply
TWO_LABELS = FileFacts("labels.txt", "Text", lines=2)


@pytest.mark.parametrize(
    "pkg, labels",
    [
        (pinned("m", {"model": MODEL_FACTS, "labels": LABEL_FACTS}), "${packages.m}/labels.txt"),
        (pinned("m", None), "${packages.m}/labels.txt"),  # a PVC, or a URL not downloaded
        (pinned("m", {"other": LABEL_FACTS}, complete=False), ""),  # maybe among the files not described
        (pinned("m", {"model": UNREAD_MODEL, "labels": TWO_LABELS}), "${packages.m}/labels.txt"),
    ],
)
def test_what_the_operator_cannot_tell_is_left_to_the_pods(pkg: ResolvedPackage, labels: str) -> None:
    assert check(pkg, labels=labels).ok


def test_package_file_reads_only_paths_inside_one_package() -> None:
    assert package_file("${packages.fruit}/a/./b.tflite") == ("fruit", "a/b.tflite")
    assert package_file("${packages.ml_model.fruit}/m.tflite") == ("fruit", "m.tflite")
    for path in ("/abs/m.tflite", "${packages.fruit}", "${packages.fruit}/../x", "x/${packages.fruit}/m"):
        assert package_file(path) is None


# --- the reconcile: a refused version is never rolled out -------------------------------------


def test_a_refused_latest_keeps_the_running_version_in_the_pod_template() -> None:
    good = tar_gz({"fruit_classifier.tflite": MODEL, "labels.txt": LABELS})
    bad = tar_gz({"fruit_classifier.tflite": MODEL, "labels.txt": b"apple\nbanana\n"})
    (v1, e1), (v2, e2) = checked("1", "p.tar.gz", good), checked("2", "p.tar.gz", bad)
    package = {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "ModelPackage",
        "metadata": {"name": "fruit", "namespace": "ns"},
        "spec": {"versions": [v1, {**v2, "latest": True}]},
        "status": {"versions": [e1, e2]},
    }
    service = owner()
    service["status"] = {
        "resolvedPackages": [{"name": "fruit_classifier", "package": "fruit", "version": "1"}]
    }
    rt = Runtime(Config(), None, lambda: None, lambda *a: None)  # type: ignore[arg-type, return-value]
    rt.store.put(package)
    plan = plan_mlmodel(rt, service)
    assert (plan.resolution.reason, plan.resolution.message) == (
        "LabelsMismatch",
        "fruit 2: labels file labels.txt has 2 labels but model fruit_classifier.tflite has 4 classes",
    )
    assert plan.effective is not None
    template = build_deployment(inputs(service, plan.effective.packages), 1)["spec"]["template"]
    assert '"version":"1"' in template["metadata"]["annotations"][ANNOTATION_PACKAGES]
    fetch = template["spec"]["initContainers"][0]["args"]
    assert fetch[fetch.index("--model") + 1] == "fruit_classifier.tflite"


def test_only_the_model_package_init_container_is_told_the_model_file() -> None:
    model, labels = url_pkg(name="fruit_classifier"), url_pkg(name="labels")
    service = owner(
        packages=[{"name": "fruit_classifier", "package": "fruit"}, {"name": "labels", "package": "l"}]
    )
    init = build_deployment(inputs(service, (model, labels)), 1)["spec"]["template"]["spec"]["initContainers"]
    args = {c["name"]: c["args"] for c in init}
    assert args["fetch-fruit-classifier"][-2:] == ["--model", "fruit_classifier.tflite"]
    assert "--model" not in args["fetch-labels"]
