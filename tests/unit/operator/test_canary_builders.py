"""The candidate in the pod: its own init container, directory and flags; nothing else moves."""

from __future__ import annotations

from dataclasses import replace

from helpers import SHA_B, inputs, url_pkg

from mlmodel_operator.builders.candidate import CandidatePods
from mlmodel_operator.builders.children import build_deployment

CANDIDATE = CandidatePods(
    replace(url_pkg("3", SHA_B), source={"configMap": {"name": "fruit-3", "key": "m"}}), "2", 10
)


def pod(candidate: CandidatePods | None = None) -> dict:
    built = inputs(packages=(url_pkg("2"),))
    return build_deployment(replace(built, candidate=candidate), 1)["spec"]["template"]


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_candidate_is_fetched_into_a_directory_of_its_own():
    spec = pod(CANDIDATE)["spec"]
    fetch = spec["initContainers"][-1]
    assert fetch["name"] == "candidate-fetch-fruit-classifier"
    assert flag(fetch["args"], "--dest") == "/candidate/models/fruit_classifier"
    assert flag(fetch["args"], "--file") == "/candidate/sources/fruit_classifier/m"
    assert flag(fetch["args"], "--sha256") == SHA_B
    assert {v["name"] for v in spec["volumes"]} >= {
        "candidate-pkg-fruit-classifier",
        "candidate-src-fruit-classifier",
    }
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["candidate-pkg-fruit-classifier"]["mountPath"] == "/candidate/models/fruit_classifier"
    assert mounts["candidate-pkg-fruit-classifier"]["readOnly"] is True


def test_the_server_loads_both_versions_under_their_package_versions():
    args = pod(replace(CANDIDATE, mirror=True, tolerance=0.01))["spec"]["containers"][0]["args"]
    assert flag(args, "--model") == "/models/fruit_classifier/fruit_classifier.tflite"
    assert flag(args, "--candidate-model") == "/candidate/models/fruit_classifier/fruit_classifier.tflite"
    assert flag(args, "--candidate-labels") == "/candidate/models/fruit_classifier/labels.txt"
    assert (flag(args, "--model-version"), flag(args, "--candidate-version")) == ("2", "3")
    assert flag(args, "--candidate-percent") == "10"
    assert "--mirror" in args and flag(args, "--agreement-tolerance") == "0.01"


def test_each_share_is_a_template_of_its_own_and_no_candidate_is_the_plain_template():
    hashes = {pod(replace(CANDIDATE, percent=p))["metadata"]["annotations"]["mlmodel.dev/template-hash"]
              for p in (10, 50, 100)}  # fmt: skip
    assert len(hashes) == 3
    plain = pod()
    assert not any(c["name"].startswith("candidate-") for c in plain["spec"]["initContainers"])
    assert "--candidate-model" not in plain["spec"]["containers"][0]["args"]
