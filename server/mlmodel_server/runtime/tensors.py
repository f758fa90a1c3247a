"""Tensor specs: what a model says about each of its input and output tensors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor, as the interpreter and the metadata describe it."""

    name: str
    index: int
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    # -1 marks a dimension that may vary per request (shape_signature).
    shape_signature: tuple[int, ...]
    quantization: Quantization | None = None
    description: str = ""
    labels: tuple[str, ...] = ()
    associated_files: tuple[dict[str, str], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_dynamic(self) -> bool:
        return any(d < 0 for d in self.shape_signature)

    def accepts_shape(self, shape: tuple[int, ...]) -> bool:
        """True when `shape` fits the signature (same rank, fixed dims equal)."""
        if len(shape) != len(self.shape_signature):
            return False
        return all(want < 0 or want == got for want, got in zip(self.shape_signature, shape, strict=True))


def _quantization(detail: dict[str, Any]) -> Quantization | None:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return Quantization(float(scale), int(zero_point)) if scale else None


def spec_from_detail(detail: dict[str, Any]) -> TensorSpec:
    """Turn one entry of get_input_details()/get_output_details() into a TensorSpec."""
    shape = tuple(int(d) for d in detail["shape"])
    signature = detail.get("shape_signature")
    return TensorSpec(
        name=str(detail["name"]),
        index=int(detail["index"]),
        dtype=np.dtype(detail["dtype"]),
        shape=shape,
        shape_signature=tuple(int(d) for d in signature) if signature is not None else shape,
        quantization=_quantization(detail),
    )
