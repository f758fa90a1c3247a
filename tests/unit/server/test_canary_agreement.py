"""When two versions agree on a request: the top-1 class, the confident boxes, or every
value within the tolerance, by what the model is."""

from __future__ import annotations

import numpy as np
import pytest

from mlmodel_server.canary.agreement import Rule, agree, iou, rule_for
from mlmodel_server.runtime.model import ModelConfig, TFLiteModel
from tests.conftest import MODELS

CLASSIFIER = Rule("classifier", scores="logits")
DETECTOR = Rule(
    "detector", detector={"location": "boxes", "category": "classes", "score": "scores", "count": "count"}
)
OTHER = Rule("other", tolerance=0.01)


def scores(*rows: list[float]) -> dict[str, np.ndarray]:
    return {"logits": np.array(rows, np.float32)}


def test_classifiers_agree_on_the_top_class_whatever_the_scores():
    assert agree(CLASSIFIER, scores([6, 0, 0, -3]), scores([0.99, 0.004, 0.004, 0.002]))
    assert not agree(CLASSIFIER, scores([6, 0, 0, -3]), scores([0, 6, 0, -3]))


def test_a_batch_agrees_row_by_row():
    assert not agree(CLASSIFIER, scores([1, 0], [0, 1]), scores([1, 0], [1, 0]))


def detections(*found: tuple[int, float, list[float]], slots: int = 4) -> dict[str, np.ndarray]:
    """SSD-style outputs: (class, score, box) rows, zero-padded to `slots`, with a count."""
    boxes, classes, confidence = np.zeros((1, slots, 4)), np.zeros((1, slots)), np.zeros((1, slots))
    for i, (cls, score, box) in enumerate(found):
        boxes[0, i], classes[0, i], confidence[0, i] = box, cls, score
    return {"boxes": boxes, "classes": classes, "scores": confidence, "count": np.array([len(found)], float)}


RED = (0, 0.9, [0, 0, 0.5, 0.5])
BLUE = (2, 0.7, [0.5, 0.5, 1, 1])


def test_detectors_agree_on_the_same_boxes_in_any_order_and_with_other_scores():
    moved = (0, 0.6, [0.02, 0.0, 0.52, 0.5])  # IoU about 0.92
    assert agree(DETECTOR, detections(RED, BLUE), detections(BLUE, moved))


@pytest.mark.parametrize(
    "other",
    [
        detections(RED),  # a box is missing
        detections(RED, BLUE, (1, 0.8, [0, 0.5, 0.5, 1])),  # one more confident box
        detections(RED, (1, 0.7, [0.5, 0.5, 1, 1])),  # the same box, another class
        detections(RED, (2, 0.7, [0.5, 0.5, 0.8, 0.8])),  # IoU 0.36
    ],
)
def test_detectors_disagree_on_a_missing_extra_relabelled_or_moved_box(other):
    assert not agree(DETECTOR, detections(RED, BLUE), other)


def test_only_confident_boxes_within_the_count_take_part():
    weak = detections(RED, (1, 0.3, [0, 0.5, 0.5, 1]))
    past_count = detections(RED)
    past_count["boxes"][0, 1], past_count["scores"][0, 1] = [0.5, 0, 1, 0.5], 0.95
    assert agree(DETECTOR, weak, detections(RED))
    assert agree(DETECTOR, past_count, detections(RED))


def test_other_models_agree_within_the_tolerance_on_every_output():
    a = {"sum": np.array([[1.0, 2.0]]), "prod": np.array([[2, 4]])}
    assert agree(OTHER, a, {"sum": np.array([[1.009, 1.991]]), "prod": np.array([[2, 4]])})
    assert not agree(OTHER, a, {"sum": np.array([[1.02, 2.0]]), "prod": np.array([[2, 4]])})
    assert not agree(OTHER, a, {"sum": np.array([[1.0, 2.0, 3.0]]), "prod": np.array([[2, 4]])})
    assert not agree(OTHER, {"x": np.array([np.nan, 1.0])}, {"x": np.array([1.0, 1.0])})


def test_iou():
    assert iou(np.array([0, 0, 2, 2.0]), np.array([1, 1, 3, 3.0])) == pytest.approx(1 / 7)
    assert iou(np.array([0, 0, 1, 1.0]), np.array([2, 2, 3, 3.0])) == 0


@pytest.mark.parametrize(
    ("model", "kind"),
    [("classifier_float32", "classifier"), ("detector_ssd", "detector"), ("multi_io", "other")],
)
def test_the_rule_follows_what_the_model_is(model, kind):
    loaded = TFLiteModel(ModelConfig(MODELS / f"{model}.tflite", pool_size=1, solo_threads=0))
    loaded.load()
    try:
        rule = rule_for(loaded.kind, loaded.outputs, 1e-3)
    finally:
        loaded.close()
    assert rule.kind == kind
    assert (rule.scores == "logits") == (kind == "classifier")
    assert (rule.detector is not None) == (kind == "detector")
