"""JSON documents whose large arrays of numbers come back as NumPy arrays, not lists.

Why: a JSON tensor (a 224x224x3 image is 150,528 numbers) read by `orjson.loads` becomes a
Python float per element, then `np.asarray` walks the list again; nested, it is also a list
per innermost row, which wakes the cyclic garbage collector. That cost several times the
inference itself (benchmarks/README.md has the figures). Here such arrays are parsed by
simdjson (`pysimdjson`) straight into a flat buffer of doubles or int64s; the rest of the
document, small once they are taken out, is still read by orjson.

`loads(body)` answers exactly what `orjson.loads(body)` answers, errors included, except
that a large regular array of numbers at a position the caller `keep`s is the NumPy array
`np.asarray(orjson.loads(<its text>))` would be (same dtype, shape and bits). How:

1. The body is lexed for strings (its quotes, minding escapes) and, between them, each large
   stretch is searched for a bracketed array and its matching bracket.
2. Each such array is parsed alone by simdjson, which validates it. It is taken only when it
   is regular (its brackets and commas are those of a rectangular array of its shape, its
   element count the product of that shape) and holds only numbers: all integers within
   int64 (int64, as NumPy makes of Python ints) or floats with every value below 2**53 in
   magnitude (float64; an integer beyond that could round differently through a double).
   Anything else (booleans, strings, ragged or empty arrays, invalid JSON) is left in place.
3. Each taken array is replaced by a placeholder integer, the shortened document is parsed
   by orjson, and every placeholder must turn up exactly once, as a value; the arrays go in
   their place. Swapping an array for a number at the same place changes no other token, so
   the shortened document is valid JSON exactly when the body is. Any surprise (a
   placeholder missing, twice, or in the client's own data) and the whole body is parsed by
   orjson instead, which also gives invalid bodies their usual error.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import simdjson

Body = bytes | bytearray | memoryview
Path = tuple[str | int, ...]
Keep = Callable[[Path], bool]

MIN_BODY = 16 * 1024  # smaller bodies go to orjson as they are
MIN_ARRAY = 4 * 1024  # smaller arrays stay in the document
MAX_QUOTES = 4096  # a body with more strings than that is not a tensor body: orjson
KEEP_PARSER = 8 * 1024 * 1024  # a parser keeps its buffers for the next document up to this
EXACT = 2.0**53  # integers up to this convert to float64 exactly
PLACEHOLDER = -(2**62)  # array i is the integer PLACEHOLDER - i (an int64, so orjson keeps it)

QUOTE, BACKSLASH, COMMA, OPEN, CLOSE = 34, 92, 44, 91, 93

_local = threading.local()


def loads(body: Body, keep: Keep = lambda path: True) -> Any:
    """`orjson.loads(body)`, with the large arrays of numbers at paths `keep` accepts (keys
    and list indices from the root) as NumPy arrays."""
    if len(body) < MIN_BODY:
        return orjson.loads(body)
    view = memoryview(body).cast("B") if not isinstance(body, bytes) else body
    taken = _arrays(np.frombuffer(view, dtype=np.uint8))
    if not taken:
        return orjson.loads(body)
    pieces, start = [], 0
    for number, (first, end, _) in enumerate(taken):
        pieces += [view[start:first], b" %d " % (PLACEHOLDER - number)]
        start = end
    pieces.append(view[start:])
    try:
        doc = orjson.loads(b"".join(pieces))
        placed = _Placer(view, taken, keep)
        doc = placed.walk(doc, ())
    except (orjson.JSONDecodeError, _Mismatch):
        return orjson.loads(body)
    if placed.missing():
        return orjson.loads(body)
    return doc


class _Mismatch(Exception):
    """A placeholder turned up twice, or one the body did not get from us."""


class _Placer:
    """Puts each array where its placeholder is: kept as NumPy, or as orjson's lists."""

    def __init__(self, view: Body, taken: list[tuple[int, int, np.ndarray]], keep: Keep) -> None:
        self.view, self.taken, self.keep = view, taken, keep
        self.seen = [False] * len(taken)

    def walk(self, value: Any, path: Path) -> Any:
        if type(value) is int and PLACEHOLDER - len(self.taken) < value <= PLACEHOLDER:
            number = PLACEHOLDER - value
            if self.seen[number]:
                raise _Mismatch
            self.seen[number] = True
            first, end, array = self.taken[number]
            return array if self.keep(path) else orjson.loads(self.view[first:end])
        if type(value) is dict:
            for key, item in value.items():
                if type(item) in (int, dict, list):
                    value[key] = self.walk(item, (*path, key))
        elif type(value) is list:
            for index, item in enumerate(value):
                if type(item) in (int, dict, list):
                    value[index] = self.walk(item, (*path, index))
        return value

    def missing(self) -> bool:
        return not all(self.seen)


# -- finding the arrays ----------------------------------------------------------------


def _arrays(u: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(start, end, array) of each large regular array of numbers outside strings."""
    quotes = _unescaped_quotes(u)
    if quotes is None:
        return []
    # Stretches outside strings: before the first quote, between a closing quote and the
    # next opening one, after the last.
    bounds = np.concatenate(([-1], quotes, [len(u)]))
    found = []
    for index in range(0, len(bounds) - 1, 2):
        first, end = int(bounds[index]) + 1, int(bounds[index + 1])
        while end - first >= MIN_ARRAY:
            span = _next_array(u, first, end)
            if span is None:
                break
            start, stop, opens = span
            if stop - start >= MIN_ARRAY:
                array = parse_array(u[start:stop], opens)
                if array is not None:
                    found.append((start, stop, array))
            first = stop
    return found


def _unescaped_quotes(u: np.ndarray) -> np.ndarray | None:
    """Positions of the quotes that open or close strings; None when there are too many."""
    quotes = np.flatnonzero(u == QUOTE)
    if len(quotes) > MAX_QUOTES:
        return None
    after_backslash = quotes[(quotes > 0) & (u[quotes - 1] == BACKSLASH)]
    if len(after_backslash):
        escaped = {int(q) for q in after_backslash if _odd_backslashes(u, int(q))}
        quotes = np.array([q for q in quotes if int(q) not in escaped], dtype=np.int64)
    return quotes


def _odd_backslashes(u: np.ndarray, quote: int) -> bool:
    count, position = 0, quote - 1
    while position >= 0 and u[position] == BACKSLASH:
        count, position = count + 1, position - 1
    return count % 2 == 1


def _next_array(u: np.ndarray, first: int, end: int) -> tuple[int, int, int] | None:
    """(start, end, number of '[') of the first bracketed array in u[first:end] that closes
    there; None when there is none."""
    stretch = u[first:end]
    events = np.flatnonzero((stretch == OPEN) | (stretch == CLOSE))
    if not len(events):
        return None
    signs = np.where(stretch[events] == OPEN, 1, -1)
    opens = np.flatnonzero(signs == 1)
    if not len(opens):
        return None
    begin = int(opens[0])  # closing brackets before it belong to arrays opened earlier
    depth = np.cumsum(signs[begin:])
    closed = np.flatnonzero(depth == 0)
    if not len(closed):
        return None
    last = begin + int(closed[0])
    count = int(np.count_nonzero(signs[begin : last + 1] == 1))
    return first + int(events[begin]), first + int(events[last]) + 1, count


# -- one array -----------------------------------------------------------------------


def parse_array(text: np.ndarray, opens: int) -> np.ndarray | None:
    """The array the JSON text (a uint8 array from '[' to its ']') holds, as
    `np.asarray(orjson.loads(text))` makes it, or None when this module does not take it:
    not valid JSON, not regular, not all numbers, or empty. `opens`: its count of '['."""
    parsed = _parse(text.tobytes())
    if parsed is None:
        return None
    flat, shape = parsed
    if len(flat) != math.prod(shape) or not len(flat):
        return None
    if flat.dtype == np.float64 and not (flat.min() > -EXACT and flat.max() < EXACT):
        return None  # through a double, as here, a big integer could round differently
    if opens > 1 or len(shape) > 1:
        structure = text[(text == COMMA) | (text == OPEN) | (text == CLOSE)].tobytes()
        if structure != _regular_structure(shape):
            return None
    return flat.reshape(shape)


def _parse(text: bytes) -> tuple[np.ndarray, tuple[int, ...]] | None:
    """simdjson's flat buffer of the array's numbers (int64 when all are integers in its
    range, else float64) and the shape read down its first elements; None when simdjson
    refuses the text or an element is not a number. The parser's document is released
    before returning (a parser refuses a new document while proxies of its last live)."""
    parser = _parser(len(text))
    try:
        root = parser.parse(text)
    except (ValueError, RuntimeError, UnicodeDecodeError):
        _local.parser = None  # a failure can leave proxies referenced: start afresh
        return None
    shape, item = [], root
    while isinstance(item, simdjson.Array):
        shape.append(len(item))
        if not len(item):
            break
        item = item[0]
    if not isinstance(root, simdjson.Array):
        return None
    try:
        flat = np.frombuffer(root.as_buffer(of_type="i"), dtype=np.int64)
    except (TypeError, ValueError):
        try:
            flat = np.frombuffer(root.as_buffer(of_type="d"), dtype=np.float64)
        except (TypeError, ValueError, RuntimeError):
            return None
    except RuntimeError:
        return None
    return flat, tuple(shape)


def _parser(size: int) -> simdjson.Parser:
    """This thread's parser (one document at a time); a parser of its own for a text so
    large that its buffers should not outlive the request."""
    if size > KEEP_PARSER:
        return simdjson.Parser()
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = simdjson.Parser()
    return parser


@functools.lru_cache(maxsize=8)
def _regular_structure(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a rectangular array of `shape`, in order."""
    text = b""
    for size in reversed(shape):
        text = b"[" + b",".join([text] * size) + b"]"
    return text
