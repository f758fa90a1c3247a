"""Two versions under one name, against a real `mlmodel serve`: the split a client measures,
the answers mirroring compares, the versions a client can name, and what is refused.

Version 1 is classifier_float32; the candidate, version 2, is either the same file (an
identical candidate) or classifier_shifted, whose top-1 class differs on every image, so
each answer shows which version gave it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import tritonclient.grpc as tg

from tests.conftest import IMAGES, MODELS, ServerProcess

IMAGE = np.linspace(-1, 1, 32 * 32 * 3, dtype=np.float32).reshape(1, 32, 32, 3)
BODY = json.dumps(
    {
        "inputs": [
            {"name": "image", "shape": [1, 32, 32, 3], "datatype": "FP32", "data": IMAGE.ravel().tolist()}
        ]
    }
).encode()
INFER = "/v2/models/colour/infer"
STABLE_TOP = int(np.argmax(IMAGE.reshape(-1, 3).mean(axis=0)))  # classifier_float32: the brightest channel


def two_versions(start: Callable[..., ServerProcess], candidate: str, *flags: str) -> ServerProcess:
    return start(
        "--model", MODELS / "classifier_float32.tflite", "--name", "colour", "--model-version", "1",
        "--candidate-model", MODELS / candidate, "--candidate-version", "2", "--pool-size", "1", *flags,
    )  # fmt: skip


def answered(client: httpx.Client, path: str = INFER) -> tuple[str, int]:
    """(the version the answer names, its top class)."""
    response = client.post(path, content=BODY, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    doc = response.json()
    return doc["model_version"], int(np.argmax(doc["outputs"][0]["data"]))


def counts(server: ServerProcess, family: str) -> dict[tuple[tuple[str, str], ...], float]:
    """A family's samples from /metrics, keyed by their sorted labels."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics").text
    return {
        tuple(sorted(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == family
    }


def test_ten_thousand_requests_at_ten_percent_land_within_two_percent(serve_process):
    server = two_versions(serve_process, "classifier_shifted.tflite", "--candidate-percent", "10")
    start = time.perf_counter()

    def batch(n: int) -> Counter[tuple[str, int]]:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            return Counter(answered(client) for _ in range(n))

    with ThreadPoolExecutor(4) as pool:
        seen = sum(pool.map(batch, [2500] * 4), Counter())
    seconds = time.perf_counter() - start
    by_version = Counter(version for version, _ in seen.elements())
    share = by_version["2"] / 10_000
    rate = 10_000 / seconds
    print(f"\nFIGURES canary split: 10000 requests at 10%: {by_version['2']} by the candidate ({share:.2%}), "
          f"{by_version['1']} by the stable; {rate:.0f} req/s over 4 clients")  # fmt: skip
    assert abs(share - 0.10) <= 0.02
    # Every answer is the version it names: the candidate's top class is the stable's, moved on.
    assert set(seen) == {("1", STABLE_TOP), ("2", (STABLE_TOP + 1) % 4)}
    requests = counts(server, "mlmodel_version_requests_total")
    answered_by = {dict(k)["version"]: v for k, v in requests.items() if dict(k)["role"] == "answer"}
    assert answered_by == {"1": by_version["1"], "2": by_version["2"]}


@pytest.mark.parametrize(
    ("candidate", "result"),
    [("classifier_float32.tflite", "agree"), ("classifier_shifted.tflite", "disagree")],
)
def test_mirrored_requests_are_compared_and_answered_by_the_weighted_version(
    serve_process, candidate, result
):
    server = two_versions(serve_process, candidate, "--candidate-percent", "10", "--mirror")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        versions = Counter(answered(client)[0] for _ in range(500))
    time.sleep(0.2)  # the last mirrored runs finish after their answers
    compared = {dict(k)["result"]: v for k, v in counts(server, "mlmodel_version_comparisons_total").items()}
    skipped = sum(counts(server, "mlmodel_version_shadows_skipped_total").values())
    print(f"\nFIGURES canary mirror ({candidate}): {compared} of 500, {skipped:.0f} skipped")
    assert versions == {"1": 450, "2": 50}
    assert compared.get(result, 0) + skipped == 500 and set(compared) <= {result}
    shadows = counts(server, "mlmodel_version_requests_total")
    ran = {dict(k)["version"]: v for k, v in shadows.items() if dict(k)["role"] == "shadow"}
    assert sum(ran.values()) + skipped == 500


def test_a_request_naming_a_version_is_answered_by_that_version(serve_process):
    server = two_versions(serve_process, "classifier_shifted.tflite", "--candidate-percent", "50")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert answered(client, "/v2/models/colour/versions/2/infer") == ("2", (STABLE_TOP + 1) % 4)
        assert answered(client, "/v2/models/colour/versions/1/infer") == ("1", STABLE_TOP)
        missing = client.post("/v2/models/colour/versions/3/infer", content=BODY)
        assert missing.status_code == 404
        assert missing.json()["error"] == "model 'colour' has no version '3' (served: 1, 2)"
        assert client.get("/v2/models/colour").json()["versions"] == ["1", "2"]


def test_grpc_answers_name_the_version_that_gave_them(serve_process):
    server = two_versions(serve_process, "classifier_shifted.tflite", "--candidate-percent", "50")
    client = tg.InferenceServerClient(server.grpc_target)
    image = tg.InferInput("image", [1, 32, 32, 3], "FP32")
    image.set_data_from_numpy(IMAGE)
    found = set()
    for _ in range(100):
        result = client.infer("colour", [image])
        found.add((result.get_response().model_version, int(np.argmax(result.as_numpy("logits")))))
    client.close()
    assert found == {("1", STABLE_TOP), ("2", (STABLE_TOP + 1) % 4)}


def test_vision_requests_are_split_and_mirrored_like_tensor_requests(serve_process):
    """The vision route hands the model a function that decodes the image: a split server
    builds the tensor once and both versions see it."""
    server = two_versions(serve_process, "classifier_shifted.tflite", "--candidate-percent", "50", "--mirror")
    png = (IMAGES / "red.png").read_bytes()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        tops = Counter(
            client.post(
                "/v1/vision/colour/classifications?n=1", content=png, headers={"Content-Type": "image/png"}
            ).json()["classifications"][0]["class_name"]
            for _ in range(100)
        )
    time.sleep(0.2)  # the last mirrored runs finish after their answers
    compared = {dict(k)["result"]: v for k, v in counts(server, "mlmodel_version_comparisons_total").items()}
    skipped = sum(counts(server, "mlmodel_version_shadows_skipped_total").values())
    assert len(tops) == 2 and min(tops.values()) >= 20, tops
    assert compared.get("disagree", 0) + skipped == 100 and set(compared) <= {"disagree"}


def refused(*flags: str) -> str:
    command = [sys.executable, "-m", "mlmodel_server.cli", "serve", "--port", "0", "--grpc-port", "0"]
    command += ["--model", str(MODELS / "classifier_float32.tflite"), *flags]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    lines = [line for line in run.stderr.splitlines() if line and "XNNPACK" not in line]
    assert run.returncode == 1 and len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    return lines[0]


def test_a_candidate_that_cannot_stand_in_stops_the_server_with_one_line():
    line = refused("--candidate-model", str(MODELS / "classifier_uint8.tflite"), "--candidate-version", "2")
    assert line.startswith(
        "mlmodel serve: error: candidate version 2 cannot stand in for version 1: its inputs"
    )
    line = refused("--candidate-model", str(MODELS / "nope.tflite"))
    assert line.startswith("mlmodel serve: error: candidate version candidate: cannot read model file")
    line = refused("--candidate-percent", "10")
    assert (
        line == "mlmodel serve: error: the candidate flags need --candidate-model or --candidate-package-dir"
    )
