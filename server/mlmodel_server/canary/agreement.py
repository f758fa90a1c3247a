"""Whether two versions agree on one request, by what the model is.

Why not one numeric rule for all: a retrained classifier moves every score a little while
its answer stays the same, and a detector may order its boxes differently. So classifiers
agree on the top-1 class, detectors on their confident boxes (same class, IoU >= 0.5,
matched one to one), and any other model on every value within an absolute tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..runtime import roles
from ..runtime.tensors import TensorSpec

MIN_IOU = 0.5
# Boxes below this score are not detections (the fixture SSD's and most exporters' threshold).
MIN_SCORE = 0.5

Outputs = Mapping[str, np.ndarray]
Detection = tuple[int, np.ndarray]  # (class, box as 4 corners in either TF order)


@dataclass(frozen=True)
class Rule:
    """How the outputs of one model are compared."""

    kind: str  # classifier | detector | other
    tolerance: float = 1e-3
    scores: str | None = None  # a classifier's class-score output
    detector: Mapping[str, str] | None = None  # role -> output name


def rule_for(kind: str, outputs: list[TensorSpec], tolerance: float) -> Rule:
    """The rule for a model of `kind` with these outputs (runtime/roles decides kinds)."""
    if kind == "classifier":
        spec = roles.classifier_output(outputs, {})
        return Rule(kind, tolerance, scores=spec.name if spec else None)
    if kind == "detector":
        return Rule(kind, tolerance, detector=roles.detector_roles(outputs, {}))
    return Rule("other", tolerance)


def agree(rule: Rule, stable: Outputs, candidate: Outputs) -> bool:
    if rule.scores is not None:
        return same_top1(stable[rule.scores], candidate[rule.scores])
    if rule.detector is not None:
        return same_detections(detections(stable, rule.detector), detections(candidate, rule.detector))
    return all(within(stable[name], candidate.get(name), rule.tolerance) for name in stable)


def same_top1(a: np.ndarray, b: np.ndarray) -> bool:
    """The same best class in every row (a batch compares row by row)."""
    if a.shape != b.shape:
        return False
    return bool(np.array_equal(np.argmax(a, axis=-1), np.argmax(b, axis=-1)))


def within(a: np.ndarray, b: np.ndarray | None, tolerance: float) -> bool:
    """Same shape, and no value further apart than `tolerance`."""
    if b is None or a.shape != b.shape:
        return False
    if a.size == 0:
        return True
    difference = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return bool(np.nanmax(difference) <= tolerance) and bool(np.array_equal(np.isnan(a), np.isnan(b)))


def detections(outputs: Outputs, role: Mapping[str, str]) -> list[Detection]:
    """The confident boxes: within `count` when the model reports one, score >= MIN_SCORE."""
    boxes = np.asarray(outputs[role["location"]], np.float64).reshape(-1, 4)
    scores = np.asarray(outputs[role["score"]], np.float64).reshape(len(boxes), -1)
    if scores.shape[1] > 1:  # per-class scores, no post-processing op: the best class wins
        classes, best = scores.argmax(axis=1), scores.max(axis=1)
    else:
        category = outputs.get(role.get("category", ""))
        classes = np.zeros(len(boxes), int) if category is None else np.asarray(category).reshape(-1)
        best = scores[:, 0]
    count = len(boxes)
    if "count" in role:
        count = min(count, int(np.asarray(outputs[role["count"]]).reshape(-1)[0]))
    return [(int(classes[i]), boxes[i]) for i in range(count) if best[i] >= MIN_SCORE]


def same_detections(a: list[Detection], b: list[Detection]) -> bool:
    """One-to-one: every box of each side has a box of the same class with IoU >= MIN_IOU."""
    if len(a) != len(b):
        return False
    free = list(range(len(b)))
    for cls, box in a:
        same_class = [i for i in free if b[i][0] == cls]
        best = max(same_class, key=lambda i: iou(box, b[i][1]), default=None)
        if best is None or iou(box, b[best][1]) < MIN_IOU:
            return False
        free.remove(best)
    return True


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes given as (min, min, max, max) corners."""
    low, high = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(high - low, 0, None)))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2])) - inter
    return inter / union if union > 0 else 0.0
