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

    def tables(self, slot: int) -> list[FbTable]:
        """A vector of tables."""
        off = self._offset(slot)
        if not off:
            return []
        start = self._tab.Vector(off)
        return [
            FbTable(self._tab.Bytes, self._tab.Indirect(start + 4 * i))
            for i in range(self._tab.VectorLen(off))
        ]

    def union(self, slot: int) -> FbTable | None:
        """The table a union's value slot points at (its type is the slot before)."""
        off = self._offset(slot)
        return FbTable(self._tab.Bytes, self._tab.Indirect(off + self._tab.Pos)) if off else None

    def numbers(self, slot: int, flags: type, width: int) -> list[float]:
        """A vector of scalars (floats or ints) of byte `width`."""
        off = self._offset(slot)
        if not off:
            return []
        start = self._tab.Vector(off)
        return [self._tab.Get(flags, start + width * i) for i in range(self._tab.VectorLen(off))]

    def bytes(self, slot: int) -> bytes:
        """A [ubyte] vector."""
        off = self._offset(slot)
        if not off:
            return b""
        start = self._tab.Vector(off)
        return bytes(self._tab.Bytes[start : start + self._tab.VectorLen(off)])
