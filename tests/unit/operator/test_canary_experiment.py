"""The candidate gets every check a version gets; what fails them keeps it out of the pods."""

from __future__ import annotations

from typing import Any

from helpers import owner, url_pkg

from mlmodel_fetch.contents import Contents, FileFacts
from mlmodel_operator.canary.experiment import experiment
from mlmodel_operator.canary.spec import CanarySpec
from mlmodel_operator.packages import Resolution, fingerprint

ATTRS = owner()["spec"]["attributes"]
MODEL = FileFacts("fruit_classifier.tflite", "TFLite", classes=4)
LABELS = FileFacts("labels.txt", "Text", lines=4)


def version(name: str, files: tuple[FileFacts, ...] = (MODEL, LABELS)) -> tuple[dict, dict]:
    spec = {"version": name, "source": {"url": f"https://x/{name}.tar.gz"}, "sha256": name[0] * 64}
    status = {
        "version": name,
        "fingerprint": fingerprint(spec),
        "verified": "True",
        "reason": "Verified",
        "sha256": spec["sha256"],
        **Contents(files, True).to_status(),
    }
    return spec, status


def package(*versions: tuple[dict, dict]) -> dict[str, Any]:
    return {"spec": {"versions": [v[0] for v in versions]}, "status": {"versions": [v[1] for v in versions]}}


def canary(candidate: str, **extra: Any) -> CanarySpec:
    spec = {"packages": owner()["spec"]["packages"], "canary": {"version": candidate, "percent": 10, **extra}}
    found = CanarySpec.from_spec(spec)
    assert found is not None
    return found


DEPLOYED = Resolution(packages=(url_pkg("1"),))
PKG = package(version("1"), version("3"), version("4", (LABELS,)))


def test_a_verified_candidate_is_pinned_with_its_digest():
    found = experiment(canary("3"), DEPLOYED, PKG, ATTRS)
    assert found is not None and found.refusal is None
    assert found.candidate is not None and (found.candidate.version, found.candidate.sha256) == (
        "3",
        "3" * 64,
    )


def test_what_only_the_operator_can_know_is_a_refusal_naming_it():
    cases = {
        "9": "VersionNotFound",
        "1": "CandidateIsStable",
        "4": "ModelFileMissing",
    }
    for wanted, reason in cases.items():
        found = experiment(canary(wanted), DEPLOYED, PKG, ATTRS)
        assert found is not None and found.candidate is None
        assert found.refusal is not None and found.refusal[0] == reason, (wanted, found.refusal)


def test_the_key_changes_with_the_candidate_and_the_spec_but_not_otherwise():
    key = experiment(canary("3"), DEPLOYED, PKG, ATTRS).key  # type: ignore[union-attr]
    assert experiment(canary("3"), DEPLOYED, PKG, ATTRS).key == key  # type: ignore[union-attr]
    assert experiment(canary("3", mirror=True), DEPLOYED, PKG, ATTRS).key != key  # type: ignore[union-attr]
    moved = Resolution(packages=(url_pkg("2"),))
    assert experiment(canary("3"), moved, PKG, ATTRS).key != key  # type: ignore[union-attr]


def test_no_experiment_on_an_entry_that_is_not_deployed():
    spec = CanarySpec.from_spec({"packages": [], "canary": {"name": "other", "version": "3", "percent": 1}})
    assert spec is not None and experiment(spec, DEPLOYED, PKG, ATTRS) is None
