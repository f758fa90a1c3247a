"""Column-based signatures: MLflow's named, typed columns (the seed's Iris example).

Why a module of its own: the package reader checks a manifest's columns against the
model at start-up, and the MLflow scoring route maps a request's columns onto the input
tensor, so both read one definition of what a column is and which tensor it can feed.

A side of the signature made of columns maps onto exactly one tensor: the columns, in
signature order, are its last axis (`[batch, columns]`), or its only axis after the batch
when there is one column (`[batch]`). Each row of a request is one batch element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import TENSOR_MISMATCH, ModelLoadError
from .runtime.tensors import TensorSpec

# MLflow's scalar DataTypes that a numeric tensor can take, with MLflow's NumPy types.
NUMERIC_TYPES: dict[str, np.dtype[Any]] = {
    "boolean": np.dtype(np.bool_),
    "integer": np.dtype(np.int32),
    "long": np.dtype(np.int64),
    "float": np.dtype(np.float32),
    "double": np.dtype(np.float64),
}
# The rest of MLflow's DataTypes: valid in a manifest, but no TFLite input takes them.
OTHER_TYPES = ("string", "binary", "datetime")


@dataclass(frozen=True)
class Column:
    """One column spec of an MLflow signature: `{"type": "double", "name": ..., "required": ...}`."""

    name: str | None
    type: str
    required: bool = True

    @property
    def dtype(self) -> np.dtype[Any]:
        return NUMERIC_TYPES[self.type]

    def label(self, position: int) -> str:
        """How errors name the column: by name, or by position when the signature has none."""
        return self.name if self.name is not None else f"column {position}"


def parse_column(spec: Mapping[str, Any]) -> Column:
    """A column spec as MLflow writes it; ValueError names what is not MLflow's."""
    kind = spec["type"]
    if kind not in NUMERIC_TYPES and kind not in OTHER_TYPES:
        raise ValueError(f"column type {kind!r} is not an MLflow scalar type")
    name = spec.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"column name {name!r} is not a string")
    return Column(name, kind, bool(spec.get("required", True)))


def check_columns(columns: Sequence[Column], tensors: Sequence[TensorSpec], side: str) -> None:
    """Refuse at load a column signature no request could be mapped through."""
    if len(tensors) != 1:
        raise ModelLoadError(
            f"signature.{side} is column-based, which maps onto one tensor, but the model has "
            f"{len(tensors)} {side}",
            TENSOR_MISMATCH,
        )
    tensor = tensors[0]
    width = _width(tensor)
    if width is not None and width != len(columns):
        raise ModelLoadError(
            f"signature.{side} has {len(columns)} columns but the model's {side[:-1]} "
            f"'{tensor.name}' is {tensor.dtype.name}{list(tensor.shape_signature)}: a column-based "
            f"side needs [batch, {len(columns)}]" + (" or [batch]" if len(columns) == 1 else ""),
            TENSOR_MISMATCH,
        )
    names = [c.name for c in columns]
    if any(names) and (None in names or len(set(names)) != len(names)):
        raise ModelLoadError(
            f"signature.{side}: columns must be all named, with distinct names, or all unnamed",
            TENSOR_MISMATCH,
        )
    for position, column in enumerate(columns):
        _check_type(column, position, tensor, side)


def _width(tensor: TensorSpec) -> int | None:
    """How many columns the tensor takes (None: any number); 0 when no column layout fits."""
    shape = tensor.shape_signature
    if len(shape) == 1:
        return 1
    if len(shape) == 2:
        return None if shape[1] < 0 else shape[1]
    return 0


def _check_type(column: Column, position: int, tensor: TensorSpec, side: str) -> None:
    """Every column feeds (or, for outputs, is fed by) the tensor without a change of kind."""
    where = f"signature.{side} column '{column.label(position)}'"
    if column.type not in NUMERIC_TYPES:
        raise ModelLoadError(
            f"{where} is {column.type}; a TFLite tensor takes numbers or booleans", TENSOR_MISMATCH
        )
    if not column.required and side == "inputs":
        raise ModelLoadError(
            f"{where} is optional; every column of a TFLite input must be sent", TENSOR_MISMATCH
        )
    source, target = (column.dtype, tensor.dtype) if side == "inputs" else (tensor.dtype, column.dtype)
    if not np.can_cast(source, target, casting="same_kind"):
        raise ModelLoadError(
            f"{where} is {column.type} but the model's tensor '{tensor.name}' is {tensor.dtype.name}",
            TENSOR_MISMATCH,
        )
