"""A few lines of FlatBuffers reading, enough for the TFLite model and metadata tables.

Why not generated code: the metadata schema's generated module ships only with
tflite-support (heavy, unmaintained); we read a handful of fields by slot.
"""

from __future__ import annotations

import flatbuffers
from flatbuffers import number_types as n


class FbTable:
    """A FlatBuffers table at a position in a buffer, read by field slot."""

    def __init__(self, buf: bytes | bytearray, pos: int) -> None:
        self._tab = flatbuffers.table.Table(buf, pos)

    @classmethod
    def root(cls, buf: bytes | bytearray) -> FbTable:
        return cls(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))

    def _offset(self, slot: int) -> int:
        return int(self._tab.Offset(4 + 2 * slot))

    def string(self, slot: int) -> str:
        off = self._offset(slot)
        return self._tab.String(off + self._tab.Pos).decode("utf-8", "replace") if off else ""

    def scalar(self, slot: int, flags: type = n.Uint8Flags, default: int = 0) -> int:
        off = self._offset(slot)
        return int(self._tab.Get(flags, off + self._tab.Pos)) if off else default

    def table(self, slot: int) -> FbTable | None:
        off = self._offset(slot)
        return FbTable(self._tab.Bytes, self._tab.Indirect(off + self._tab.Pos)) if off else None

    def _vector(self, slot: int, width: int) -> tuple[int, int]:
        """Start and length of a vector; a length past the buffer's end is refused.

        Bytes that only look like a model (a TFL3 identifier, then noise) may announce
        vectors longer than the whole file; looping over them would never end.
        """
        off = self._offset(slot)
        if not off:
            return 0, 0
        start, length = self._tab.Vector(off), self._tab.VectorLen(off)
        if start + width * length > len(self._tab.Bytes):
            raise ValueError(f"flatbuffer vector of {length} entries runs past the buffer")
        return start, length

    def tables(self, slot: int) -> list[FbTable]:
        """A vector of tables."""
        start, length = self._vector(slot, 4)
        return [FbTable(self._tab.Bytes, self._tab.Indirect(start + 4 * i)) for i in range(length)]

    def union(self, slot: int) -> FbTable | None:
        """The table a union's value slot points at (its type is the slot before)."""
        off = self._offset(slot)
        return FbTable(self._tab.Bytes, self._tab.Indirect(off + self._tab.Pos)) if off else None

    def numbers(self, slot: int, flags: type, width: int) -> list[float]:
        """A vector of scalars (floats or ints) of byte `width`."""
        start, length = self._vector(slot, width)
        return [self._tab.Get(flags, start + width * i) for i in range(length)]

    def bytes(self, slot: int) -> bytes:
        """A [ubyte] vector."""
        start, length = self._vector(slot, 1)
        return bytes(self._tab.Bytes[start : start + length])
