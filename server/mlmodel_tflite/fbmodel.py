"""What a TFLite model's flatbuffer says about it, read without LiteRT (pure).

`mlmodel fetch` and the operator use it to refuse a package before any server tries to
load it: the file identifier tells a TFLite model from other bytes, and the tensor shapes
tell how many classes a classifier has, which its labels file must match (the check the
server makes at start-up).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from flatbuffers import number_types as n

from .flatbuf import FbTable

TFLITE_IDENTIFIER = b"TFL3"
NOT_TFLITE = "is not a TFLite flatbuffer (no TFL3 identifier)"
# Slots in schema.fbs: Model.subgraphs; SubGraph.tensors/inputs/outputs; Tensor fields.
_MODEL_SUBGRAPHS = 2
_GRAPH_TENSORS, _GRAPH_INPUTS, _GRAPH_OUTPUTS = 0, 1, 2
_TENSOR_SHAPE, _TENSOR_NAME, _TENSOR_SHAPE_SIGNATURE = 0, 3, 7


def is_tflite(head: bytes) -> bool:
    """The FlatBuffers file identifier every TFLite model carries at bytes 4..8."""
    return head[4:8] == TFLITE_IDENTIFIER


@dataclass(frozen=True)
class Tensor:
    """A graph input or output as the flatbuffer declares it (-1 in `signature`: varies)."""

    name: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]


def _tensor(table: FbTable) -> Tensor:
    shape = tuple(int(d) for d in table.numbers(_TENSOR_SHAPE, n.Int32Flags, 4))
    signature = tuple(int(d) for d in table.numbers(_TENSOR_SHAPE_SIGNATURE, n.Int32Flags, 4))
    return Tensor(table.string(_TENSOR_NAME), shape, signature or shape)


def graph_io(model: bytes) -> tuple[list[Tensor], list[Tensor]] | None:
    """Inputs and outputs of the first subgraph (the one the server runs); None if unreadable."""
    if not is_tflite(model):
        return None
    try:
        graph = FbTable.root(model).tables(_MODEL_SUBGRAPHS)[0]
        tensors = graph.tables(_GRAPH_TENSORS)
        inputs = [_tensor(tensors[int(i)]) for i in graph.numbers(_GRAPH_INPUTS, n.Int32Flags, 4)]
        outputs = [_tensor(tensors[int(i)]) for i in graph.numbers(_GRAPH_OUTPUTS, n.Int32Flags, 4)]
    except (IndexError, ValueError, TypeError, UnicodeDecodeError, struct.error):
        return None
    return inputs, outputs


def classifier_classes(model: bytes) -> int | None:
    """K when the server will take the model for a classifier of K classes; else None.

    Narrower than the server's rule (roles.py) so that it can only agree with it: an image
    input (named `image`, or the only 4-D input) and one single output shaped [1, K] or
    [K] with a fixed K. Several outputs, a varying K or unreadable bytes are left to the
    server.
    """
    found = graph_io(model)
    if found is None:
        return None
    inputs, outputs = found
    has_image = any(t.name == "image" for t in inputs) or sum(len(t.shape) == 4 for t in inputs) == 1
    if not has_image or len(outputs) != 1:
        return None
    out = outputs[0]
    if len(out.shape) not in (1, 2) or (len(out.shape) == 2 and out.shape[0] != 1):
        return None
    classes = out.shape[-1]
    return classes if classes > 0 and out.signature[-1] == classes else None
