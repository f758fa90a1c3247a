"""Read the TFLite Metadata flatbuffer and its associated files from a model.

A model with metadata carries a `TFLITE_METADATA` buffer (schema
metadata_schema.fbs) and, appended as a zip archive, the files it refers to,
e.g. the labels of a classifier. We extract what serving needs: descriptions,
labels, normalization options and the bounding-box coordinate order.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

from flatbuffers import number_types as n

from .flatbuf import FbTable

# Slots in schema.fbs (Model, Metadata, Buffer) and metadata_schema.fbs.
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_META_NAME, _META_BUFFER = 0, 1
_NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions union member
_BOUNDING_BOX_PROPERTIES = 3  # ContentProperties union member
_LABEL_FILE_TYPES = {2, 3}  # TENSOR_AXIS_LABELS, TENSOR_VALUE_LABELS
_FILE_TYPE_NAMES = {
    0: "UNKNOWN",
    1: "DESCRIPTIONS",
    2: "TENSOR_AXIS_LABELS",
    3: "TENSOR_VALUE_LABELS",
    4: "TENSOR_AXIS_SCORE_CALIBRATION",
    5: "VOCABULARY",
    6: "SCANN_INDEX_FILE",
}


@dataclass
class TensorMetadata:
    name: str = ""
    description: str = ""
    labels: list[str] = field(default_factory=list)
    associated_files: list[dict[str, str]] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    box_order: list[int] = field(default_factory=list)


@dataclass
class ModelMetadata:
    name: str = ""
    description: str = ""
    version: str = ""
    author: str = ""
    inputs: list[TensorMetadata] = field(default_factory=list)
    outputs: list[TensorMetadata] = field(default_factory=list)


def read_metadata(model: bytes) -> ModelMetadata | None:
    """Parse the model's metadata, or None when it has none (or it is unreadable)."""
    try:
        raw = _metadata_buffer(model)
        return _parse_model_metadata(raw, _associated_files(model)) if raw else None
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def _metadata_buffer(model: bytes) -> bytes:
    root = FbTable.root(model)
    buffers = root.tables(_MODEL_BUFFERS)
    for entry in root.tables(_MODEL_METADATA):
        if entry.string(_META_NAME) == "TFLITE_METADATA":
            index = entry.scalar(_META_BUFFER, n.Uint32Flags)
            return buffers[index].bytes(0) if index < len(buffers) else b""
    return b""


def _associated_files(model: bytes) -> dict[str, bytes]:
    """Files zipped onto the model by the metadata populator (empty if none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()[:64]}
    except zipfile.BadZipFile:
        return {}


def _parse_model_metadata(raw: bytes, files: dict[str, bytes]) -> ModelMetadata:
    root = FbTable.root(raw)
    meta = ModelMetadata(
        name=root.string(0),
        description=root.string(1),
        version=root.string(2),
        author=root.string(4),
    )
    subgraphs = root.tables(3)
    if subgraphs:
        meta.inputs = [_parse_tensor(t, files) for t in subgraphs[0].tables(2)]
        meta.outputs = [_parse_tensor(t, files) for t in subgraphs[0].tables(3)]
    return meta


def _parse_tensor(table: FbTable, files: dict[str, bytes]) -> TensorMetadata:
    tensor = TensorMetadata(name=table.string(0), description=table.string(1))
    for unit in table.tables(4):
        options = unit.union(1)
        if unit.scalar(0) == _NORMALIZATION_OPTIONS and options is not None:
            tensor.mean = options.numbers(0, n.Float32Flags, 4)
            tensor.std = options.numbers(1, n.Float32Flags, 4)
    content = table.table(3)
    if content is not None and content.scalar(0) == _BOUNDING_BOX_PROPERTIES:
        box = content.union(1)
        tensor.box_order = [int(i) for i in box.numbers(0, n.Uint32Flags, 4)] if box else []
    for assoc in table.tables(6):
        _attach_file(tensor, assoc, files)
    return tensor


def _attach_file(tensor: TensorMetadata, assoc: FbTable, files: dict[str, bytes]) -> None:
    name, kind = assoc.string(0), assoc.scalar(2, n.Int8Flags)
    tensor.associated_files.append(
        {"name": name, "description": assoc.string(1), "label_type": _FILE_TYPE_NAMES.get(kind, "UNKNOWN")}
    )
    if kind in _LABEL_FILE_TYPES and not tensor.labels and name in files:
        tensor.labels = parse_labels(files[name].decode("utf-8", "replace"))


def parse_labels(text: str) -> list[str]:
    """One label per line, in class-index order; trailing blank lines are not labels.

    Blank lines inside the file are kept (as empty names) so indices never shift.
    """
    labels = [line.strip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    return labels
