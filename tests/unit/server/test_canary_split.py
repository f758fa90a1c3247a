"""VersionSplit in process: who answers, what a mirrored request records, what is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from mlmodel_server.canary.split import SplitCollector, SplitPlan, VersionSplit
from mlmodel_server.errors import InvalidInput, ModelLoadError
from mlmodel_server.runtime.model import ModelConfig, TFLiteModel
from tests.conftest import MODELS

STABLE = ModelConfig(
    MODELS / "classifier_float32.tflite", name="colour", version="1", pool_size=1, solo_threads=0
)
IMAGE = {"image": np.full((1, 32, 32, 3), 0.5, np.float32)}


def loaded(config: ModelConfig) -> TFLiteModel:
    model = TFLiteModel(config)
    model.load()
    return model


def split_of(candidate_file: str, percent: int, mirror: bool = False) -> VersionSplit:
    candidate = replace(STABLE, model_path=MODELS / candidate_file, version="2")
    split = VersionSplit(loaded(STABLE), loaded(candidate), SplitPlan(candidate, percent, mirror, seed=4))
    split.max_shadows = 10_000  # every request mirrored, however the runs interleave
    return split


@pytest.fixture
def identical() -> Iterator[VersionSplit]:
    split = split_of("classifier_float32.tflite", 10, mirror=True)
    yield split
    split.close()


def answer_versions(split: VersionSplit, n: int, **kwargs: object) -> list[str]:
    """The version each of `n` requests was answered by, as the front doors read it."""

    async def one() -> str:
        await split.predict(IMAGE, **kwargs)  # type: ignore[arg-type]
        return split.version

    async def run() -> list[str]:
        versions = [await asyncio.create_task(one()) for _ in range(n)]
        await asyncio.sleep(0.05)  # let the last mirrored runs finish
        return versions

    return asyncio.run(run())


def exposition(split: VersionSplit) -> str:
    registry = CollectorRegistry()
    registry.register(SplitCollector({split.name: split}))
    return generate_latest(registry).decode()


def test_each_answer_names_the_version_that_gave_it_and_the_split_is_exact(identical):
    versions = answer_versions(identical, 1000)
    assert versions.count("2") == 100 and versions.count("1") == 900
    assert identical.version == "1"  # outside a request: the stable version (metadata)


def test_mirrored_requests_run_both_versions_and_identical_ones_always_agree(identical):
    answer_versions(identical, 200)
    text = exposition(identical)
    assert 'mlmodel_version_requests_total{model="colour",result="ok",role="answer",version="2"} 20.0' in text
    assert (
        'mlmodel_version_requests_total{model="colour",result="ok",role="shadow",version="2"} 180.0' in text
    )
    assert 'candidate="2",model="colour",result="agree",stable="1"} 200.0' in text
    assert 'mlmodel_version_traffic_percent{model="colour",version="2"} 10.0' in text


def test_a_candidate_with_another_top_class_disagrees_on_every_request():
    split = split_of("classifier_shifted.tflite", 50, mirror=True)
    try:
        answer_versions(split, 100)
        text = exposition(split)
    finally:
        split.close()
    assert 'result="disagree",stable="1"} 100.0' in text
    assert 'result="agree"' not in text


def test_the_client_gets_only_the_outputs_it_asked_for_when_mirrored(identical):
    async def ask() -> dict[str, np.ndarray]:
        return await identical.predict(IMAGE, ["logits"])

    assert list(asyncio.run(ask())) == ["logits"]


def test_a_bad_request_is_refused_before_either_version_runs(identical):
    with pytest.raises(InvalidInput, match="unknown output tensor 'nope'"):
        asyncio.run(identical.predict(IMAGE, ["nope"]))
    with pytest.raises(InvalidInput, match="datatype"):
        asyncio.run(identical.predict({"image": np.zeros((1, 32, 32, 3), np.uint8)}))
    assert "mlmodel_version_requests_total{" not in exposition(identical)


def test_a_failing_candidate_is_counted_and_its_client_sees_the_error(identical, monkeypatch):
    async def broken(*_: object, **__: object) -> dict[str, np.ndarray]:
        raise RuntimeError("invoke failed")

    monkeypatch.setattr(identical.candidate, "predict", broken)
    identical.choice = type(identical.choice)(100)
    with pytest.raises(RuntimeError, match="invoke failed"):
        answer_versions(identical, 1)
    assert 'result="error",role="answer",version="2"} 1.0' in exposition(identical)


def test_a_candidate_too_far_behind_sheds_mirrored_runs_and_counts_them(identical):
    identical.max_shadows = 0
    answer_versions(identical, 100)
    text = exposition(identical)
    assert 'mlmodel_version_shadows_skipped_total{model="colour",version="2"} 90.0' in text
    assert 'mlmodel_version_shadows_skipped_total{model="colour",version="1"} 10.0' in text
    assert "mlmodel_version_comparisons_total{" not in exposition(identical)


def test_a_request_naming_a_version_gets_that_version_alone(identical):
    assert identical.at_version("2") is identical.candidate
    assert identical.at_version("1") is identical.stable
    assert identical.at_version("3") is None
    assert identical.versions == ("1", "2")


@pytest.mark.parametrize(
    ("candidate", "problem"),
    [
        (
            replace(STABLE, model_path=MODELS / "classifier_uint8.tflite", version="2"),
            "its inputs are image uint8",
        ),
        (
            replace(STABLE, model_path=MODELS / "classifier_metadata.tflite", version="2"),
            "its outputs are probab",
        ),
        (STABLE, "both are called the same"),
    ],
)
def test_a_candidate_that_cannot_stand_in_is_refused_at_start(candidate, problem):
    stable, other = loaded(STABLE), loaded(candidate)
    try:
        with pytest.raises(ModelLoadError, match=f"cannot stand in for version 1: {problem}"):
            VersionSplit(stable, other, SplitPlan(candidate, 10))
    finally:
        stable.close()
        other.close()
