"""Vision attributes, with Viam's names and rules (mlmodel vision service)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

# Viam's default: TF SSD models emit [ymin, xmin, ymax, xmax].
DEFAULT_BOX_ORDER = (1, 0, 3, 2)


@dataclass(frozen=True)
class VisionConfig:
    default_minimum_confidence: float = 0.0
    label_confidences: Mapping[str, float] = field(default_factory=dict)
    remap_input_names: Mapping[str, str] = field(default_factory=dict)
    remap_output_names: Mapping[str, str] = field(default_factory=dict)
    # Position in the model's box tensor of (xmin, ymin, xmax, ymax); None: metadata/default.
    xmin_ymin_xmax_ymax_order: tuple[int, int, int, int] | None = None
    input_image_mean_value: tuple[float, ...] | None = None
    input_image_std_dev: tuple[float, ...] | None = None
    input_image_bgr: bool = False

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, Any]) -> VisionConfig:
        """Validate a dict of Viam vision attributes; ValueError names the attribute."""
        unknown = set(attrs) - set(cls.__dataclass_fields__) - {"mlmodel_name", "label_path"}
        if unknown:
            raise ValueError(f"unknown vision attribute(s): {', '.join(sorted(unknown))}")
        config = cls(
            default_minimum_confidence=_probability(attrs, "default_minimum_confidence", 0.0),
            label_confidences=_label_confidences(attrs.get("label_confidences") or {}),
            remap_input_names=_name_map(attrs, "remap_input_names"),
            remap_output_names=_name_map(attrs, "remap_output_names"),
            xmin_ymin_xmax_ymax_order=_box_order(attrs.get("xmin_ymin_xmax_ymax_order")),
            input_image_mean_value=_triple(attrs, "input_image_mean_value"),
            input_image_std_dev=_triple(attrs, "input_image_std_dev", nonzero=True),
            input_image_bgr=bool(attrs.get("input_image_bgr", False)),
        )
        return config

    def passes(self, label: str, confidence: float) -> bool:
        """Viam's filter: listed labels at their own threshold, else the default minimum."""
        if self.label_confidences:
            threshold = self._lowered.get(label.lower())
            return threshold is not None and confidence >= threshold
        return confidence >= self.default_minimum_confidence

    @cached_property
    def _lowered(self) -> dict[str, float]:
        return {k.lower(): v for k, v in self.label_confidences.items()}


def _probability(attrs: Mapping[str, Any], key: str, default: float) -> float:
    value = attrs.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError(f"{key} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _label_confidences(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError("label_confidences must be a map of label to confidence")
    return {str(k): _probability(value, k, 0.0) for k in value}


def _name_map(attrs: Mapping[str, Any], key: str) -> dict[str, str]:
    value = attrs.get(key) or {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{key} must be a map of model tensor name to expected name")
    return {str(k): v for k, v in value.items()}


def _box_order(value: Any) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or sorted(value) != [0, 1, 2, 3]:
        raise ValueError(f"xmin_ymin_xmax_ymax_order must hold the 4 unique values 0..3, got {value!r}")
    return (int(value[0]), int(value[1]), int(value[2]), int(value[3]))


def _triple(attrs: Mapping[str, Any], key: str, nonzero: bool = False) -> tuple[float, ...] | None:
    value = attrs.get(key)
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) < 3:
        raise ValueError(f"{key} must be a list of at least 3 numbers (R, G, B)")
    numbers = tuple(float(v) for v in value)
    if nonzero and any(v == 0 for v in numbers):
        raise ValueError(f"{key} must not contain 0")
    return numbers
