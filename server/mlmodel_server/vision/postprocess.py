"""Turn raw output tensors into classifications and detections (Viam's rules)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..runtime.tensors import TensorSpec


@dataclass(frozen=True)
class Classification:
    class_name: str
    confidence: float


@dataclass(frozen=True)
class Detection:
    class_name: str
    confidence: float
    # Normalised [0, 1] corners in the submitted image.
    x_min: float
    y_min: float
    x_max: float
    y_max: float


def dequantize(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Real values of a quantized output; float outputs pass through."""
    if spec.quantization is None or array.dtype.kind == "f":
        return array.astype(np.float32, copy=False)
    q = spec.quantization
    return (array.astype(np.float32) - q.zero_point) * q.scale


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax only when the values are not already probabilities (Viam's rule)."""
    flat = scores.astype(np.float64).ravel()
    if flat.size == 1 and (flat[0] < -1 or flat[0] > 1):
        return 1.0 / (1.0 + np.exp(-flat))
    if flat.size > 1 and (flat.min() < 0 or flat.max() > 1):
        shifted = np.exp(flat - flat.max())
        return shifted / shifted.sum()
    return flat


def class_name(index: int, labels: Sequence[str]) -> str:
    """A label when there is one, else the index as text ("0", "1", ...)."""
    return labels[index] if 0 <= index < len(labels) and labels[index] else str(index)


def top_classifications(
    probabilities: np.ndarray,
    labels: Sequence[str],
    n: int,
    keep: Callable[[str, float], bool] = lambda name, confidence: True,
) -> list[Classification]:
    """The `n` most probable classes that `keep` accepts, most probable first.

    Why a loop that stops: a 1000-class model's every class made into an object and filtered
    took longer than the rest of the request around the invoke.
    """
    found: list[Classification] = []
    if n <= 0:
        return found
    for index in np.argsort(-probabilities, kind="stable").tolist():
        name, confidence = class_name(index, labels), float(probabilities[index])
        if keep(name, confidence):
            found.append(Classification(name, confidence))
            if len(found) == n:
                break
    return found


def box_corners(boxes: np.ndarray, order: Sequence[int], input_hw: tuple[int, int]) -> np.ndarray:
    """[N, 4] boxes in the model's order → normalised (xmin, ymin, xmax, ymax), clamped.

    Viam's rule: if the first box's values sum to less than 4 the coordinates
    are proportional; otherwise they are pixels of the model's input.
    """
    corners = boxes[:, list(order)].astype(np.float64)
    if corners.size and corners[0].sum() >= 4:
        height, width = input_hw
        corners = corners / np.array([width, height, width, height], dtype=np.float64)
    return np.clip(corners, 0.0, 1.0)


@dataclass(frozen=True)
class DetectorOutputs:
    boxes: np.ndarray  # [N, 4]
    classes: np.ndarray  # [N] int
    scores: np.ndarray  # [N]


def detector_outputs(named: Mapping[str, np.ndarray], roles: Mapping[str, str]) -> DetectorOutputs:
    """Pick location/category/score/count by role and drop the batch dimension."""
    boxes = named[roles["location"]].reshape(-1, 4)
    score = named[roles["score"]]
    if "category" in roles:
        classes = named[roles["category"]].reshape(-1).astype(np.int64)
        scores = score.reshape(-1)
    else:  # a 3-D score tensor [1, N, classes]: argmax picks the class
        per_box = score.reshape(boxes.shape[0], -1)
        classes, scores = per_box.argmax(axis=1), per_box.max(axis=1)
    count = boxes.shape[0]
    if "count" in roles:
        count = min(count, int(named[roles["count"]].reshape(-1)[0]))
    return DetectorOutputs(boxes[:count], classes[:count], scores[:count].astype(np.float64))
