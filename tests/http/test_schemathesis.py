"""Schema-driven fuzzing of the HTTP API (schemathesis), in process over ASGI.

Every operation of `/openapi.json` gets up to MAX_EXAMPLES generated requests, valid and
invalid per the schema (path and query parameters, headers, JSON and binary bodies,
images, multipart), against the app serving `multi_io.tflite` (several inputs, no
labels) and `classifier_uint8.tflite` (an image classifier with its vision service).
The one property: no request makes the server answer 5xx, and afterwards it is still
ready, still infers and still classifies a real image correctly. A second generator sends
requests shaped like the model's inputs with hostile values, which random schema bodies
almost never are, so the casts and the interpreter get fuzzed too.

Valid path parameters `name`/`version` are the served ones (negative cases send anything
else), so requests get past the model lookup and reach the decoders. Generation is
deterministic (the same cases every run: CI never fails on a new random draw);
`MLMODEL_FUZZ_EXAMPLES=500 MLMODEL_FUZZ_RANDOM=1` explores further by hand.
docs/security.md records the cases tried and what was found.

schemathesis' own `@schema.parametrize()` is not used: its pytest plugin does not run on
pytest 9 (it reads `Function._nodeid`); its strategies are driven with hypothesis here.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.conftest import IMAGES
from tests.http.conftest import make_client

MODELS = ("multi_io", "classifier_uint8")
MAX_EXAMPLES = int(os.environ.get("MLMODEL_FUZZ_EXAMPLES", "50"))
DETERMINISTIC = os.environ.get("MLMODEL_FUZZ_RANDOM", "") == ""
# (model, "METHOD /path") -> status codes seen; read by the last test and printed.
SEEN: dict[tuple[str, str], Counter[int]] = {}


def served_value(value: str) -> dict[str, Any]:
    """Valid cases use the served value; negative cases send anything else (404 paths)."""
    return {"type": "string", "enum": [value]}


def steer_parameters(document: dict[str, Any], model: str) -> dict[str, Any]:
    """Point `name`/`version` path parameters at the served model."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in ("name", "version"):
                    parameter["schema"] = served_value(model if parameter["name"] == "name" else "1")
    return document


@pytest.fixture(params=MODELS)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """A fresh app per test, its models closed when the test that used it ends."""
    client = make_client(request.param)
    yield request.param, client.app
    client.app.state.dataplane.close()


def load_schema(model: str, app: Any) -> Any:
    schema = schemathesis.openapi.from_dict(steer_parameters(app.openapi(), model))
    schema.app = app
    return schema


def cases(operation: Any) -> st.SearchStrategy[schemathesis.Case]:
    """Valid and invalid requests (an operation with nothing to break has no negative ones)."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    with contextlib.suppress(Exception):
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    return st.one_of(strategies)


def fuzz_operation(model: str, operation: Any) -> None:
    """MAX_EXAMPLES requests to one operation; the first 5xx fails (shrunk to a minimal case)."""
    label = f"{operation.method.upper()} {operation.path}"
    seen = SEEN.setdefault((model, label), Counter())

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=DETERMINISTIC,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases(operation))
    def run(case: schemathesis.Case) -> None:
        response = case.call()
        seen[response.status_code] += 1
        case.validate_response(response, checks=[not_a_server_error])

    run()


def test_no_request_makes_the_server_fail(served: tuple[str, Any]) -> None:
    model, app = served
    failures = []
    for result in load_schema(model, app).get_all_operations():
        operation = result.ok()
        try:
            fuzz_operation(model, operation)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert_still_serving(model, app)


def zeros_request(metadata: dict[str, Any]) -> dict[str, Any]:
    """A valid OIP request for any model: zeros of every input's shape and datatype."""
    inputs = []
    for tensor in metadata["inputs"]:
        shape = [max(d, 1) for d in tensor["shape"]]
        count = 1
        for d in shape:
            count *= d
        inputs.append(
            {"name": tensor["name"], "shape": shape, "datatype": tensor["datatype"], "data": [0] * count}
        )
    return {"inputs": inputs}


def assert_still_serving(model: str, app: Any) -> None:
    """Ready, infers, and (the classifier) still classifies a red image as red.

    A TestClient used without `with`: schemathesis already runs the app's lifespan, and
    its pytest plugin ends it when the test ends, so this runs inside the fuzzing test, on
    the very app that was fuzzed.
    """
    client = TestClient(app)
    assert client.get("/v2/health/ready").status_code == 200
    metadata = client.get(f"/v2/models/{model}").json()
    response = client.post(f"/v2/models/{model}/infer", json=zeros_request(metadata))
    assert response.status_code == 200, response.text
    if model == "classifier_uint8":
        image = (IMAGES / "red.png").read_bytes()
        url = f"/v1/vision/{model}/classifications?n=1"
        found = client.post(url, content=image, headers={"Content-Type": "image/png"})
        assert found.json()["classifications"][0]["class_name"] == "red"


def values(datatype: str) -> st.SearchStrategy[Any]:
    """Numbers the datatype holds, and every kind it does not: NaN, inf, huge, text, null."""
    wild = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.booleans(),
        st.text(max_size=4),
        st.none(),
    )
    fitting = st.floats(-1, 1) if datatype.startswith("FP") else st.integers(0, 255)
    return st.one_of(fitting, fitting, wild)


@st.composite
def model_shaped(draw: st.DrawFn, metadata: dict[str, Any]) -> dict[str, Any]:
    """An OIP request with the model's input names and shapes but drawn values and types."""
    inputs = []
    for tensor in metadata["inputs"]:
        shape = [max(d, 1) for d in tensor["shape"]]
        count = 1
        for d in shape:
            count *= d
        datatype = draw(st.sampled_from([tensor["datatype"], tensor["datatype"], "FP64", "INT64", "BYTES"]))
        # A few drawn values repeated to fill the tensor: cheap to draw even for images.
        pattern = draw(st.lists(values(datatype), min_size=1, max_size=8))
        data = (pattern * (count // len(pattern) + 1))[:count]
        inputs.append({"name": tensor["name"], "shape": shape, "datatype": datatype, "data": data})
    return {"inputs": inputs}


def test_model_shaped_requests_never_fail(served: tuple[str, Any]) -> None:
    """Past the shape checks, into casting and the interpreter: still never a 5xx.

    Random schema bodies almost never match a model's inputs; these always do, with
    values and datatypes drawn to break the casts (overflow, NaN into integers, text).
    """
    model, app = served
    client = TestClient(app)
    metadata = client.get(f"/v2/models/{model}").json()
    seen = SEEN.setdefault((model, "POST /v2/models/{name}/infer (model-shaped)"), Counter())

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=DETERMINISTIC, database=None)
    @given(body=model_shaped(metadata))
    def run(body: dict[str, Any]) -> None:
        # stdlib json: integers past 64 bits, and NaN/Infinity tokens the server must refuse.
        response = client.post(f"/v2/models/{model}/infer", content=json.dumps(body))
        seen[response.status_code] += 1
        assert response.status_code < 500, response.text

    run()
    assert seen[200] > 0, "no drawn request was valid: the strategy no longer reaches the interpreter"
    assert client.get("/v2/health/ready").status_code == 200


def test_fuzzing_report() -> None:
    """Print what was tried (`pytest -s` shows it), per operation and status code."""
    if not SEEN:
        pytest.skip("the fuzzing tests were deselected")
    total = sum(sum(c.values()) for c in SEEN.values())
    lines = [f"schemathesis: {total} requests over {len(SEEN)} operations"]
    for (model, operation), codes in sorted(SEEN.items()):
        lines.append(f"  {model:18} {operation:48} {dict(sorted(codes.items()))}")
    print("\n".join(lines))
    assert all(code < 500 for codes in SEEN.values() for code in codes)
