"""Open Inference Protocol datatypes and their NumPy equivalents."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidInput

OIP_TO_NUMPY: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
NUMPY_TO_OIP = {dtype: name for name, dtype in OIP_TO_NUMPY.items()}


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    try:
        return OIP_TO_NUMPY[datatype]
    except (KeyError, TypeError):
        known = ", ".join(OIP_TO_NUMPY)
        raise InvalidInput(f"unknown datatype {datatype!r}; expected one of {known}") from None


def oip_datatype(dtype: np.dtype[Any]) -> str:
    """The OIP name of a NumPy dtype; TFLite string tensors are BYTES."""
    if dtype.kind in "OSU":
        return "BYTES"
    return NUMPY_TO_OIP[np.dtype(dtype)]
