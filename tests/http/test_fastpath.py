"""The lean ASGI infer path (api/fastpath.py) answers exactly as the FastAPI route it shadows.

Every request goes to two apps, one with the fast path (the default) and one without
(`HttpSettings(fast_path=False)`), each over its own dataplane, straight through ASGI so
the raw status, header list (names, values and order) and body bytes can be compared.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi import FastAPI

from mlmodel_server.api import fastpath
from mlmodel_server.app import HttpSettings, create_app
from mlmodel_server.runtime.model import ModelConfig
from mlmodel_server.server import assemble
from tests.conftest import MODELS

INFER = "/v2/models/multi_io/infer"
TOKEN = "s3cret"


def make_app(fast_path: bool, **settings: Any) -> FastAPI:
    config = ModelConfig(MODELS / "multi_io.tflite", name="multi_io", pool_size=1)
    return create_app(assemble(config), HttpSettings(fast_path=fast_path, **settings))


@pytest.fixture(scope="module")
def pair_factory() -> Iterator[Any]:
    """Apps (fast, FastAPI-only) made on demand per settings, closed after the module."""
    made: dict[tuple[tuple[str, Any], ...], tuple[FastAPI, FastAPI]] = {}

    def get(**settings: Any) -> tuple[FastAPI, FastAPI]:
        key = tuple(sorted(settings.items()))
        if key not in made:
            made[key] = (make_app(True, **settings), make_app(False, **settings))
        return made[key]

    yield get
    for apps in made.values():
        for app in apps:
            app.state.dataplane.close()


def call(
    app: FastAPI,
    path: str,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    method: str = "POST",
    chunks: Sequence[bytes] | None = None,
    content_length: str | None = "auto",
    disconnect: bool = False,
) -> tuple[int | None, list[tuple[bytes, bytes]], bytes, str | None]:
    """One request through ASGI: (status, raw headers, body, exception raised or None)."""
    parts = list(chunks) if chunks is not None else [body]
    raw = [(k.lower().encode(), v.encode("latin-1")) for k, v in headers]
    if content_length is not None:
        declared = str(sum(map(len, parts))) if content_length == "auto" else content_length
        raw.append((b"content-length", declared.encode("latin-1")))
    messages = [
        {"type": "http.request", "body": p, "more_body": disconnect or i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    error = None
    try:
        asyncio.run(app(scope, receive, send))
    except Exception as exc:
        error = type(exc).__name__
    start = next((m for m in sent if m["type"] == "http.response.start"), None)
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return (start["status"] if start else None), (start["headers"] if start else []), content, error


def same(pair: tuple[FastAPI, FastAPI], path: str = INFER, **request: Any) -> tuple[int | None, bytes]:
    """Send one request to both apps; assert identical answers; return (status, body)."""
    fast, reference = (call(app, path, **request) for app in pair)
    assert fast == reference
    return fast[0], fast[2]


def spec(name: str, datatype: str, array: np.ndarray) -> dict[str, Any]:
    return {
        "name": name,
        "datatype": datatype,
        "shape": list(array.shape),
        "parameters": {"binary_data_size": array.nbytes},
    }


def binary(a: Any = ((1, 2, 3, 4),), b: Any = ((1, 1, 1, 1),), **doc: Any) -> dict[str, Any]:
    """A binary-extension request (as tritonclient sends it), as `call` keyword arguments."""
    fa, ib = np.asarray(a, np.float32), np.asarray(b, np.int32)
    header = orjson.dumps({"inputs": [spec("a", "FP32", fa), spec("b", "INT32", ib)], **doc})
    return {
        "body": header + fa.tobytes() + ib.tobytes(),
        "headers": [
            ("Content-Type", "application/octet-stream"),
            ("Inference-Header-Content-Length", str(len(header))),
        ],
    }


def json_doc(**extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
            {"name": "b", "datatype": "INT32", "shape": [1, 4], "data": [1, 1, 1, 1]},
        ],
        **extra,
    }


def json_request(**extra: Any) -> dict[str, Any]:
    return {"body": orjson.dumps(json_doc(**extra)), "headers": [("Content-Type", "application/json")]}


OK_REQUESTS = {
    "binary in and out": binary(id="r1", parameters={"binary_data_output": True}),
    "binary in, JSON out": binary(),
    "one output binary": binary(
        outputs=[{"name": "prod", "parameters": {"binary_data": True}}, {"name": "sum"}]
    ),
    "two rows of a": binary(a=[[1, 2, 3, 4], [5, 6, 7, 8]], parameters={"binary_data_output": True}),
    "JSON": json_request(id="j"),
    "JSON, requested output": json_request(outputs=[{"name": "sum"}]),
}


@pytest.mark.parametrize("path", [INFER, "/v2/models/multi_io/versions/1/infer"])
@pytest.mark.parametrize("case", list(OK_REQUESTS))
def test_answers_are_byte_for_byte_those_of_the_fastapi_route(pair_factory, path, case):
    status, body = same(pair_factory(), path, **OK_REQUESTS[case])
    assert status == 200 and b'"model_name":"multi_io"' in body


def test_binary_answer_headers_in_starlette_order(pair_factory):
    _, headers, body, _ = call(pair_factory()[0], INFER, **binary(parameters={"binary_data_output": True}))
    header_length = int(dict(headers)[b"inference-header-content-length"])
    assert [k for k, _ in headers] == [b"inference-header-content-length", b"content-length", b"content-type"]
    assert dict(headers)[b"content-type"] == b"application/octet-stream"
    assert orjson.loads(body[:header_length])["outputs"][0]["parameters"]["binary_data_size"] == 16
    assert np.frombuffer(body[header_length : header_length + 16], np.float32).tolist() == [2, 3, 4, 5]


@pytest.mark.parametrize(
    "chunks",
    [[b"x" * 10], [b"", b"ab", b"", b"cdef"], [b"1" * 70000, b"2" * 140000, b"3"]],
    ids=["one", "small pieces", "large pieces"],
)
def test_bodies_in_several_messages_with_or_without_content_length(pair_factory, chunks):
    request = binary(parameters={"binary_data_output": True})
    body = request["body"]
    cuts = np.cumsum([0, *map(len, chunks)]) * len(body) // max(1, sum(map(len, chunks)))
    pieces = [body[i:j] for i, j in itertools.pairwise(cuts)]
    pieces[-1] += body[cuts[-1] :]
    for declared in ("auto", None, str(len(body) + 1000), "12", "\u00b2", "-5", "0x10"):
        status, _ = same(pair_factory(), chunks=pieces, headers=request["headers"], content_length=declared)
        assert status == 200


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "GZIP"])
def test_compressed_bodies(pair_factory, encoding):
    for request in (binary(parameters={"binary_data_output": True}), json_request()):
        raw = request["body"]
        packed = gzip.compress(raw) if encoding.lower() == "gzip" else zlib.compress(raw)
        headers = [*request["headers"], ("Content-Encoding", encoding)]
        assert same(pair_factory(), body=packed, headers=headers)[0] == 200


ERRORS: dict[str, tuple[str, dict[str, Any], int]] = {
    "unknown model": ("/v2/models/nope/infer", json_request(), 404),
    "unknown version": ("/v2/models/multi_io/versions/7/infer", json_request(), 404),
    "malformed JSON": (INFER, {"body": b"{"}, 400),
    "not an object": (INFER, {"body": b"[1]"}, 400),
    "empty body": (INFER, {"body": b""}, 400),
    "header length not a number": (
        INFER,
        {"body": b"{}", "headers": [("Inference-Header-Content-Length", "abc")]},
        400,
    ),
    "header length past the body": (
        INFER,
        {"body": b"{}", "headers": [("Inference-Header-Content-Length", "99")]},
        400,
    ),
    "datatype mismatch": (INFER, json_request(inputs=[{**json_doc()["inputs"][0], "datatype": "FP64"}]), 400),
    "unknown output": (INFER, json_request(outputs=[{"name": "nope"}]), 400),
    "unsupported encoding": (INFER, {**json_request(), "headers": [("Content-Encoding", "br")]}, 400),
    "corrupt gzip": (INFER, {"body": b"not gzip", "headers": [("Content-Encoding", "gzip")]}, 400),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_have_the_same_status_and_body(pair_factory, case):
    path, request, want = ERRORS[case]
    status, body = same(pair_factory(), path, **request)
    assert status == want and set(orjson.loads(body)) == {"error"}


def test_lying_binary_size_is_400(pair_factory):
    request = binary()
    header = orjson.dumps({"inputs": [spec("a", "FP32", np.zeros((1, 4), np.float32))]})
    request["headers"] = [("Inference-Header-Content-Length", str(len(header)))]
    request["body"] = header + b"\0" * 15
    assert same(pair_factory(), **request)[0] == 400


def test_a_model_not_ready_is_503(pair_factory):
    pair = pair_factory()
    models = [app.state.dataplane.models["multi_io"] for app in pair]
    for model in models:
        model.ready = False
    try:
        assert same(pair, **json_request())[0] == 503
    finally:
        for model in models:
            model.ready = True


def test_body_limits_are_413_as_before(pair_factory):
    pair = pair_factory(max_body_bytes=1000)
    assert same(pair, body=b"x" * 5000)[0] == 413  # Content-Length over the limit
    assert same(pair, chunks=[b"x" * 600, b"x" * 600], content_length=None)[0] == 413  # streamed over it
    bomb = gzip.compress(orjson.dumps(json_doc(pad="x" * 5000)))
    status, body = same(pair, body=bomb, headers=[("Content-Encoding", "gzip")])
    assert status == 413 and b"inflated request body exceeds" in body


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic s3cret", f"Bearer {TOKEN}"])
def test_auth_on(pair_factory, authorization):
    headers = [("Authorization", authorization)] if authorization else []
    request = binary(parameters={"binary_data_output": True})
    status, _ = same(
        pair_factory(auth_token=TOKEN), headers=[*request["headers"], *headers], body=request["body"]
    )
    assert status == (200 if authorization == f"Bearer {TOKEN}" else 401)


def test_a_disconnect_mid_body_fails_the_same_way(pair_factory):
    fast, reference = (call(app, INFER, chunks=[b"{"], disconnect=True) for app in pair_factory())
    assert fast == reference and fast[3] == "ClientDisconnect"


NOT_INFER = [
    ("GET", INFER),
    ("POST", INFER + "/"),
    ("POST", "/v2/models//infer"),
    ("POST", "/v2/models/infer"),
    ("POST", "/v2/models/multi_io/versions//infer"),
    ("POST", "/v2/models/multi_io/versions/1/2/infer"),
    ("POST", "/v2/models/multi_io"),
    ("POST", "/v2/models/multi_io/inferx"),
    ("GET", "/v2/health/ready"),
    ("POST", "/invocations"),
]


@pytest.mark.parametrize("method,path", NOT_INFER)
def test_other_requests_go_to_fastapi_unchanged(pair_factory, monkeypatch, method, path):
    served = []
    original = fastpath.InferFastPath.infer

    async def spy(self, *args: Any) -> None:
        served.append(args)
        await original(self, *args)

    monkeypatch.setattr(fastpath.InferFastPath, "infer", spy)
    same(pair_factory(), path, method=method, **json_request())
    assert served == []
    same(pair_factory(), INFER, **json_request())
    assert len(served) == 1


KEPT = (
    "mlmodel_requests_total",
    "mlmodel_request_duration_seconds_count",
    "mlmodel_inference_duration_seconds_count",
)


def test_metrics_count_both_paths_under_the_same_labels():
    pair = (
        make_app(True, auth_token=TOKEN, max_body_bytes=1000),
        make_app(False, auth_token=TOKEN, max_body_bytes=1000),
    )
    auth = [("Authorization", f"Bearer {TOKEN}")]
    requests = [
        (INFER, {**binary(), "headers": [*binary()["headers"], *auth]}),
        ("/v2/models/multi_io/versions/1/infer", {**json_request(), "headers": auth}),
        ("/v2/models/nope/infer", {**json_request(), "headers": auth}),
        (INFER, {"body": b"{", "headers": auth}),
        (INFER, json_request()),  # 401, before routing
        (INFER, {"body": b"x" * 2000, "headers": auth}),  # 413 from Content-Length, before routing
        (INFER, {"chunks": [b"x" * 600] * 2, "content_length": None, "headers": auth}),  # 413 while reading
    ]
    for path, request in requests:
        same(pair, path, **request)
    scraped = [call(app, "/metrics", method="GET")[2].decode() for app in pair]
    counted = [sorted(line for line in text.splitlines() if line.startswith(KEPT)) for text in scraped]
    assert counted[0] == counted[1]
    route = 'route="/v2/models/{name}/infer"'
    assert f'mlmodel_requests_total{{method="POST",{route},status="200"}} 1.0' in counted[0]
    assert f'mlmodel_requests_total{{method="POST",{route},status="413"}} 1.0' in counted[0]
    assert 'mlmodel_requests_total{method="POST",route="unmatched",status="413"} 1.0' in counted[0]
    assert 'mlmodel_requests_total{method="POST",route="unmatched",status="401"} 1.0' in counted[0]
    assert 'route="/v2/models/{name}/versions/{version}/infer"' in scraped[0]
    assert 'mlmodel_inference_duration_seconds_count{model="multi_io"} 2.0' in counted[0]
    for app in pair:
        app.state.dataplane.close()


def test_the_fastapi_route_stays_in_the_openapi_description(pair_factory):
    status, _, body, _ = call(pair_factory()[0], "/openapi.json", method="GET")
    paths = orjson.loads(body)["paths"]
    assert status == 200 and "post" in paths["/v2/models/{name}/infer"]
    assert "post" in paths["/v2/models/{name}/versions/{version}/infer"]
