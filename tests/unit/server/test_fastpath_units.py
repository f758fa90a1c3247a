"""Pieces of the lean infer path: route matching, body reception, zero-copy decoding,
and uvicorn's receive high-water mark."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import struct
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from mlmodel_server.api import v2
from mlmodel_server.api.fastpath import InferFastPath, infer_routes, read_body
from mlmodel_server.codecs.oip import parse_request
from mlmodel_server.dataplane import DataPlane
from mlmodel_server.server import UVICORN_BODY_PROTOCOLS, raise_receive_high_water


@pytest.fixture(scope="module")
def fast() -> InferFastPath:
    routes = infer_routes(v2.router(DataPlane(), 1000).routes)
    return InferFastPath(lambda *_: None, DataPlane(), 1000, routes)  # type: ignore[arg-type]


def scope(path: str, method: str = "POST", kind: str = "http", root_path: str = "") -> dict[str, Any]:
    return {"type": kind, "method": method, "path": path, "root_path": root_path, "headers": []}


@pytest.mark.parametrize(
    "path,name,version",
    [
        ("/v2/models/m/infer", "m", None),
        ("/v2/models/m/versions/2/infer", "m", "2"),
        ("/v2/models/a b.c-d/versions/v 1/infer", "a b.c-d", "v 1"),
        ("/v2/models/infer/infer", "infer", None),
        ("/v2/models/versions/infer", "versions", None),
    ],
)
def test_infer_paths_match_as_the_route_templates_do(fast, path, name, version):
    found = fast.match(scope(path))
    assert found is not None and found[1:] == (name, version)
    route = found[0]
    assert isinstance(route, APIRoute) and route.path_regex.match(path)
    assert route.path == (v2.INFER_PATH if version is None else v2.INFER_VERSION_PATH)


@pytest.mark.parametrize(
    "request_scope",
    [
        scope("/v2/models/m/infer", method="GET"),
        scope("/v2/models/m/infer", method="PUT"),
        scope("/v2/models/m/infer", kind="websocket"),
        scope("/prefix/v2/models/m/infer", root_path="/prefix"),
        scope("/v2/models//infer"),
        scope("/v2/models/infer"),
        scope("/v2/models/m/infer/"),
        scope("/v2/models/m/versions/infer"),
        scope("/v2/models/m/versions//infer"),
        scope("/v2/models/m/version/1/infer"),
        scope("/v2/models/m/versions/1/x/infer"),
        scope("/v2/models/m/infer\n"),
        scope("/v2/models/m"),
    ],
)
def test_everything_else_is_left_to_fastapi(fast, request_scope):
    assert fast.match(request_scope) is None


def receive_from(messages: list[dict[str, Any]]) -> Any:
    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return receive


def body_of(chunks: list[bytes], size: int | None) -> memoryview:
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    return asyncio.run(read_body(receive_from(messages), size))


DATA = bytes(range(256)) * 3000


@pytest.mark.parametrize("size", [None, 0, 12, len(DATA), len(DATA) + 99])
@pytest.mark.parametrize("cuts", [[], [1], [0, 0, 5], [65536, 70000, 600000], [len(DATA)]])
def test_a_body_is_exactly_the_bytes_sent_whatever_content_length_said(size, cuts):
    bounds = [0, *cuts, len(DATA)]
    chunks = [DATA[i:j] for i, j in itertools.pairwise(bounds)]
    assert bytes(body_of(chunks, size)) == DATA


def test_a_body_in_one_message_is_not_copied():
    chunk = b"x" * 1000
    view = body_of([chunk], 1000)
    assert view.obj is chunk


def test_other_message_types_are_skipped_and_a_disconnect_raises():
    messages = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "something.else"},
        {"type": "http.request", "body": b"cd", "more_body": False},
    ]
    assert bytes(asyncio.run(read_body(receive_from(messages), None))) == b"abcd"
    cut = [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}]
    with pytest.raises(ClientDisconnect):
        asyncio.run(read_body(receive_from(cut), 4))


def test_binary_tensors_are_views_of_the_received_body():
    array = np.arange(8, dtype=np.float32)
    header = orjson.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [8], "parameters": {"binary_data_size": 32}}]}
    )
    body = bytearray(header + array.tobytes())
    parsed = parse_request(memoryview(body), str(len(header)))
    np.testing.assert_array_equal(parsed.inputs["x"], array)
    assert np.shares_memory(parsed.inputs["x"], np.frombuffer(body, np.uint8))


def test_bytes_elements_from_a_view_are_bytes():
    chunk = b"".join(struct.pack("<I", len(s)) + s for s in (b"ab", b"xyz"))
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "s",
                    "datatype": "BYTES",
                    "shape": [2],
                    "parameters": {"binary_data_size": len(chunk)},
                }
            ]
        }
    )
    parsed = parse_request(memoryview(header + chunk), str(len(header)))
    assert list(parsed.inputs["s"]) == [b"ab", b"xyz"]
    assert all(type(item) is bytes for item in parsed.inputs["s"])


def test_uvicorn_receive_high_water_is_raised_where_its_protocols_read_it():
    modules = [importlib.import_module(name) for name in UVICORN_BODY_PROTOCOLS]
    before = [m.HIGH_WATER_LIMIT for m in modules]
    try:
        assert raise_receive_high_water(4 << 20) == list(UVICORN_BODY_PROTOCOLS)
        assert [m.HIGH_WATER_LIMIT for m in modules] == [4 << 20] * len(modules)
    finally:
        for module, value in zip(modules, before, strict=True):
            module.HIGH_WATER_LIMIT = value
