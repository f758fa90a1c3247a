"""Server-side regressions from the security work: the two 5xx schemathesis found
(docs/security.md) and the bearer token re-read when its mounted Secret changes."""

from __future__ import annotations

import os
import time

import orjson
import pytest

from mlmodel_server.api.auth import TokenFile
from mlmodel_server.codecs.mlflow import _instances_columns
from mlmodel_server.codecs.oip import parse_request
from mlmodel_server.errors import InvalidInput


@pytest.mark.parametrize("element", [10**12, 2**40, 3.5, None, True, {"a": 1}])
def test_bytes_elements_must_be_strings(element: object) -> None:
    """`bytes(10**12)` would allocate a terabyte: a number is refused before that."""
    body = orjson.dumps({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "data": [element]}]})
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="BYTES elements must be strings"):
        parse_request(body, None)
    assert time.monotonic() - started < 1


def test_bytes_strings_still_decode() -> None:
    body = orjson.dumps({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [2], "data": ["ab", ""]}]})
    assert list(parse_request(body, None).inputs["s"]) == [b"ab", b""]


@pytest.mark.parametrize("rows", [[{"a": 1}, None], [{"a": 1}, [1, 2]], [{"": None}, 3]])
def test_instances_rows_mixing_objects_and_tensors_are_a_client_error(rows: list[object]) -> None:
    with pytest.raises(InvalidInput, match="must be all objects"):
        _instances_columns(rows)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def rotate(path: str, token: str) -> None:
    """What the kubelet does: write a new file and swap it in atomically."""
    tmp = path + ".new"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(token)
    os.replace(tmp, path)


def test_token_file_is_re_read_after_rotation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "token")
    rotate(path, "first\n")
    clock = Clock()
    source = TokenFile(path, recheck=5, clock=clock)
    assert source.current() == "first"
    rotate(path, "second\n")
    clock.now = 4
    assert source.current() == "first"  # not re-checked yet
    clock.now = 6
    assert source.current() == "second"


@pytest.mark.parametrize("damage", ["empty", "missing"])
def test_a_broken_rotation_keeps_the_previous_token(tmp_path, damage: str) -> None:  # type: ignore[no-untyped-def]
    """Never fall open: an empty or vanished file leaves the last good token in force."""
    path = str(tmp_path / "token")
    rotate(path, "first\n")
    clock = Clock()
    source = TokenFile(path, recheck=1, clock=clock)
    if damage == "empty":
        rotate(path, "")
    else:
        os.unlink(path)
    clock.now = 2
    assert source.current() == "first"
