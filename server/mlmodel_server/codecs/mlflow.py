"""MLflow scoring bodies (`POST /invocations`) decoded into the model's input tensors.

MLflow's scoring server accepts four JSON forms: `dataframe_split` and `dataframe_records`
(pandas' `to_dict(orient="split" | "records")`), and TF-serving's `instances` and `inputs`.
What they become depends on the model's signature, as in MLflow:

- column-based (`columns.Column`): every form becomes a frame of named (or, without names,
  positional) columns; the signature's columns are taken from it in signature order,
  converted to their MLflow types and stacked into the one input tensor. Missing columns
  are refused by name, extra columns ignored, as MLflow's `_enforce_schema` does.
- tensor-based (the model's own tensors): `inputs` / `instances` hold a tensor, a dict of
  named tensors, or rows of named tensors; a dataframe has a column per input (or, for one
  input, unnamed columns that make up each row).

Conversions follow what `mlflow models serve` answers (it casts each column with pandas
before enforcing the schema), except where that cast loses information: MLflow documents
only lossless conversions as allowed, so 1.5 for an integer column, 2**40 for a 32-bit
one, a string or null for a boolean are refused with the column's name instead of being
truncated, wrapped or read as True.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson

from ..columns import NUMERIC_TYPES, Column
from ..errors import InvalidInput
from ..runtime.model import TFLiteModel
from ..runtime.tensors import TensorSpec
from . import jsonarrays

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
SPLIT_KEYS = ("columns", "data", "index")


class MalformedRequest(InvalidInput):
    """The body is not an MLflow scoring request at all (MLflow's BAD_REQUEST), as opposed to
    a request that does not fit the model's signature (INVALID_PARAMETER_VALUE)."""


def decode_body(model: TFLiteModel, body: bytes) -> dict[str, np.ndarray]:
    """The model's inputs from a scoring body: `parse_body`, then `decode`."""
    return decode(model, *parse_body(body, tensors=not model.config.input_columns))


def parse_body(body: bytes, tensors: bool = False) -> tuple[str, Any]:
    """The one input field of the body and its value; other fields (`params`) are ignored,
    as MLflow ignores params a model declares no schema for. With `tensors` (a model without
    column-based signature), large arrays of numbers where a tensor, a dataframe's `data` or a
    cell is expected come as the NumPy arrays `np.asarray` would make of their lists
    (jsonarrays.py), which the tensor decoding below takes as it takes the lists."""
    try:
        doc = jsonarrays.loads(body, keep=_tensor_position) if tensors else orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"Invalid input. Request body is not valid JSON: {exc}") from None
    present = [k for k in INPUT_KEYS if isinstance(doc, dict) and k in doc]
    if len(present) != 1:
        raise MalformedRequest(
            f"Invalid input. The JSON body must have exactly one of {', '.join(INPUT_KEYS)}"
            f" (found: {', '.join(present) or 'none'})"
        )
    return present[0], doc[present[0]]


def _tensor_position(path: jsonarrays.Path) -> bool:
    """Where `tensor_inputs` reads a tensor (or, for `dataframe_split`, rows of cells)."""
    match path:
        case ("inputs" | "instances",) | ("inputs", str()) | ("dataframe_split", "data"):
            return True
        case ("instances" | "dataframe_records", int(), str()):
            return True
    return False


def decode(model: TFLiteModel, key: str, value: Any) -> dict[str, np.ndarray]:
    """The model's inputs from one scoring field, by the kind of signature it has."""
    columns = model.config.input_columns
    if columns:
        spec = model.inputs[0]
        return {spec.name: column_tensor(to_frame(key, value, columns), columns, spec)}
    return tensor_inputs(model, key, value)


# -- frames ------------------------------------------------------------------------------


# A DataFrame as MLflow builds one from JSON: column labels (names, or positions when the
# payload has none) to one list of JSON values per column, all of one length.
Frame = dict[str | int, list[Any]]


def to_frame(key: str, value: Any, columns: Sequence[Column]) -> Frame:
    """The frame each scoring form describes, as MLflow builds it."""
    if key == "dataframe_split":
        return _split_frame(value)
    if key == "dataframe_records" and not isinstance(value, list):
        raise MalformedRequest(
            f"Invalid input. Dataframe records format must be a list of records. Got {_show(value)}"
        )
    if isinstance(value, dict):
        return _dict_frame(key, value)
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        return _records_frame(key, value)
    if key != "dataframe_records" and len(columns) == 1 and columns[0].name and isinstance(value, list):
        return {columns[0].name: value}  # MLflow: a list is the one column
    return _positional_frame(value if isinstance(value, list) else [value])


def _split_frame(value: Any) -> Frame:
    """`{"columns": [...], "data": [[...], ...], "index": [...]}`: pandas' split orient."""
    if not isinstance(value, dict) or "data" not in value or set(value) - set(SPLIT_KEYS):
        got = sorted(value) if isinstance(value, dict) else _show(value)
        raise MalformedRequest(
            "Invalid input. Dataframe split format must be a dictionary with a 'data' field and "
            f"optionally 'columns' and 'index' fields. Got {got}"
        )
    data = value["data"]
    if isinstance(data, np.ndarray) and data.ndim > 1:  # rows of numbers (jsonarrays.py)
        data = [list(row) for row in data]
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise MalformedRequest("Invalid input. dataframe_split 'data' must be a list of rows (lists)")
    names = value.get("columns")
    if names is None:
        names = list(range(max((len(row) for row in data), default=0)))
    _check_labels(names, "dataframe_split 'columns'")
    for number, row in enumerate(data):
        if len(row) != len(names):
            raise MalformedRequest(
                f"Invalid input. dataframe_split row {number} has {len(row)} values for {len(names)} columns"
            )
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise MalformedRequest(f"Invalid input. dataframe_split 'index' must list {len(data)} labels")
    return {name: [row[i] for row in data] for i, name in enumerate(names)}


def _records_frame(key: str, records: list[dict[str, Any]]) -> Frame:
    """Rows of `{column: value}`. A value a row lacks is null (pandas fills NaN), except in
    `instances`, where MLflow requires every row to have every column."""
    names = list(dict.fromkeys(name for record in records for name in record))
    if key == "instances":
        for number, record in enumerate(records):
            lacking = [name for name in names if name not in record]
            if lacking:
                raise MalformedRequest(f"Invalid input. instances row {number} has no value for {lacking}")
    return {name: [record.get(name) for record in records] for name in names}


def _dict_frame(key: str, value: dict[str, Any]) -> Frame:
    """`{column: values}` (or `{column: value}` for one row); a single value beside lists is
    repeated down the column, as pandas broadcasts it."""
    lengths = {len(v) for v in value.values() if isinstance(v, list)}
    if len(lengths) > 1:
        error = MalformedRequest if key == "instances" else InvalidInput  # as MLflow answers each
        raise error(f"Invalid input. The columns of '{key}' have different lengths: {sorted(lengths)}")
    rows = lengths.pop() if lengths else 1
    return {name: v if isinstance(v, list) else [v] * rows for name, v in value.items()}


def _positional_frame(rows: list[Any]) -> Frame:
    """Rows of values without names (`[[5.1, 3.5, ...], ...]`), or one value per row."""
    if all(isinstance(row, list) for row in rows) and rows:
        width = len(rows[0])
        if any(len(row) != width for row in rows):
            raise MalformedRequest("Invalid input. The rows have different lengths")
        return {i: [row[i] for row in rows] for i in range(width)}
    return {0: rows}


def _check_labels(names: Any, where: str) -> None:
    if not isinstance(names, list) or not all(isinstance(n, str | int) for n in names):
        raise MalformedRequest(f"Invalid input. {where} must be a list of column names")
    if len(set(names)) != len(names):
        raise MalformedRequest(f"Invalid input. {where} names a column twice")


# -- columns to a tensor -----------------------------------------------------------------


def column_tensor(frame: Frame, columns: Sequence[Column], spec: TensorSpec) -> np.ndarray:
    """The signature's columns taken from the frame, converted, and laid along the tensor's
    last axis (or, for one column and a `[batch]` tensor, as the tensor itself)."""
    labels = _column_labels(frame, columns)
    arrays = [
        convert_column(column.label(i), column.type, frame[label])
        for i, (column, label) in enumerate(zip(columns, labels, strict=True))
        if label is not None
    ]
    _require_all(frame, columns, labels)
    matrix = np.stack(arrays, axis=-1) if len(spec.shape_signature) == 2 else arrays[0]
    with np.errstate(over="ignore"):  # a double beyond float32 is inf to a float32 model, as in MLflow
        return matrix.astype(spec.dtype)


def _column_labels(frame: Frame, columns: Sequence[Column]) -> list[str | int | None]:
    """Where each signature column is in the frame: by name, or by position for a signature
    without names (MLflow takes the first columns then); None where it is missing."""
    if columns[0].name is None:
        present = list(frame)
        return [present[i] if i < len(present) else None for i in range(len(columns))]
    return [c.name if c.name in frame else None for c in columns]


def _require_all(frame: Frame, columns: Sequence[Column], labels: list[str | int | None]) -> None:
    """MLflow's messages for missing columns (extra ones are ignored)."""
    if columns[0].name is None:
        if None in labels:
            raise InvalidInput(
                f"Model inference is missing inputs. The model signature declares {len(columns)} "
                f"inputs but the provided value only has {len(frame)} inputs."
            )
        return
    missing = [c.name for c, label in zip(columns, labels, strict=True) if label is None]
    if missing:
        wanted = {c.name for c in columns}
        extra = [name for name in frame if name not in wanted]
        note = f" Note that there were extra inputs: {extra}." if extra else ""
        raise InvalidInput(f"Model is missing inputs {missing}.{note}")


def convert_column(name: str, kind: str, values: list[Any]) -> np.ndarray:
    """One column's JSON values as its MLflow type, or MalformedRequest naming the column,
    the row and the value."""
    convert = CONVERTERS[kind]
    out = []
    for row, value in enumerate(values):
        try:
            out.append(convert(value))
        except (ValueError, TypeError, OverflowError) as exc:
            raise MalformedRequest(
                f"Invalid input. Data is not compatible with model signature. Failed to convert "
                f"column {name!r} to type '{kind}': row {row}: {exc}"
            ) from None
    return np.array(out, dtype=NUMERIC_TYPES[kind])


def _number(value: Any) -> float | int:
    """A JSON number, a boolean (0 or 1), or a string holding a number (pandas parses it)."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return float(value)
    raise TypeError(f"{_show(value)} is not a number")


def _floating(bits: int) -> Callable[[Any], float]:
    limit = float(np.finfo(np.float32).max) if bits == 32 else math.inf

    def convert(value: Any) -> float:
        if value is None:
            return math.nan  # MLflow's missing value in a float column
        number = float(_number(value))
        if math.isfinite(number) and abs(number) > limit:
            raise OverflowError(f"{_show(value)} is out of range for a {bits}-bit float")
        return number

    return convert


def _integral(bits: int) -> Callable[[Any], int]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def convert(value: Any) -> int:
        number = _number(value)
        if isinstance(number, float) and not number.is_integer():
            raise ValueError(f"{_show(value)} is not a whole number")
        if not low <= int(number) <= high:
            raise OverflowError(f"{_show(value)} is out of range for a {bits}-bit integer")
        return int(number)

    return convert


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{_show(value)} is not a boolean")


def _show(value: Any) -> str:
    return "null" if value is None else f"{value!r:.40}"


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "boolean": _boolean,
    "integer": _integral(32),
    "long": _integral(64),
    "float": _floating(32),
    "double": _floating(64),
}


# -- tensor-based signatures -------------------------------------------------------------


def tensor_inputs(model: TFLiteModel, key: str, value: Any) -> dict[str, np.ndarray]:
    """`inputs` (a tensor, or a dict of tensors), `instances` (rows, stacked) or a dataframe."""
    if key.startswith("dataframe"):
        return _frame_tensors(model, to_frame(key, value, ()))
    if key == "instances" and isinstance(value, list) and value and isinstance(value[0], dict):
        value = _instances_columns(value)
    if isinstance(value, dict):
        return {name: _tensor(model, name, data) for name, data in value.items()}
    if len(model.inputs) != 1:
        names = ", ".join(t.name for t in model.inputs)
        raise InvalidInput(f"the model has several inputs ({names}): send a dict of named tensors")
    return {model.inputs[0].name: _tensor(model, model.inputs[0].name, value)}


def _frame_tensors(model: TFLiteModel, frame: Frame) -> dict[str, np.ndarray]:
    """A DataFrame for a tensor model, as MLflow reads one: a column per input name, each cell
    one batch element (a value or nested lists); a single-input model also takes unnamed
    columns, each row's cells then being one batch element's values."""
    names = [t.name for t in model.inputs]
    if all(name in frame for name in names):
        return {name: _tensor(model, name, frame[name]) for name in names}
    if len(names) > 1 or not frame:
        missing = [name for name in names if name not in frame]
        raise InvalidInput(f"Model is missing inputs {missing}: name a dataframe column after each input")
    cells = list(frame.values())
    rows = cells[0] if len(cells) == 1 else [list(row) for row in zip(*cells, strict=True)]
    return {names[0]: _tensor(model, names[0], rows)}


def _instances_columns(rows: list[Any]) -> dict[str, list[Any]]:
    """Row-oriented `instances` ([{name: value}, ...]) as one list per input name."""
    if not all(isinstance(row, dict) for row in rows):
        raise InvalidInput("Invalid input. 'instances' must be all objects (named inputs) or all tensors")
    return {name: [row.get(name) for row in rows] for name in rows[0]}


def _tensor(model: TFLiteModel, name: str, value: Any) -> np.ndarray:
    """Cast JSON data to the input's dtype; MLflow's shape message on mismatch."""
    spec = model.input_spec(name)
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and spec.dtype.kind in "biu"):
            raise ValueError(f"expected {spec.dtype.name} numbers, got {array.dtype}")
        typed = array.astype(spec.dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"Input '{name}': {exc}") from None
    if not spec.accepts_shape(tuple(typed.shape)):
        raise InvalidInput(
            f"Shape of input {tuple(typed.shape)} does not match expected shape "
            f"{tuple(spec.shape_signature)} for input '{name}'"
        )
    return typed
