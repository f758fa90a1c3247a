"""Inference activity on a real `mlmodel serve`: what the operator's idle stop and an
autoscaler's requests-in-flight target read from /metrics.

A probe, a metadata read or a scrape must never look like traffic; an inference over HTTP or
gRPC must, and the gauge of requests in flight must count the ones being served.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import tritonclient.grpc as tg
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MODELS

BODY = {
    "inputs": [
        {"name": "a", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},
        {"name": "b", "shape": [1, 4], "datatype": "INT32", "data": [1, 1, 1, 1]},
    ]
}


def gauges(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics").text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def last_request(url: str) -> float:
    return gauges(url)["mlmodel_last_request_timestamp_seconds"]


def test_only_inference_counts_as_a_request(serve_process):
    server = serve_process("--model", MODELS / "multi_io.tflite")
    for path in ("/v2/health/ready", "/v2/health/live", "/v2/models/multi_io", "/metrics"):
        assert httpx.get(server.url + path).status_code == 200
    quiet = gauges(server.url)
    assert quiet["mlmodel_last_request_timestamp_seconds"] == 0
    assert quiet["mlmodel_inference_requests_in_flight"] == 0
    assert quiet["mlmodel_requests_in_flight"] == 1  # the all-requests gauge counts this scrape

    before = time.time()
    assert httpx.post(f"{server.url}/v2/models/multi_io/infer", json=BODY).status_code == 200
    after_http = last_request(server.url)
    assert before - 1 <= after_http <= time.time() + 1

    time.sleep(1.1)
    client = tg.InferenceServerClient(server.grpc_target)
    assert client.is_model_ready("multi_io")
    assert last_request(server.url) == after_http  # a gRPC readiness call is no inference
    inputs = [tg.InferInput("a", [1, 4], "FP32"), tg.InferInput("b", [1, 4], "INT32")]
    inputs[0].set_data_from_numpy(np.ones((1, 4), np.float32))
    inputs[1].set_data_from_numpy(np.ones((1, 4), np.int32))
    client.infer("multi_io", inputs)
    assert last_request(server.url) > after_http


def test_requests_in_flight_counts_inference_being_served(serve_process):
    server = serve_process("--model", MODELS / "bench_classifier.tflite", "--pool-size", "1")
    meta = httpx.get(f"{server.url}/v2/models/bench_classifier").json()
    tensor = meta["inputs"][0]
    body = {
        "inputs": [
            {
                "name": tensor["name"],
                "shape": tensor["shape"],
                "datatype": tensor["datatype"],
                "data": np.zeros(int(np.prod(tensor["shape"])), np.float32).tolist(),
            }
        ]
    }
    seen: list[float] = []

    async def load() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            path = "/v2/models/bench_classifier/infer"
            posts = [asyncio.ensure_future(client.post(path, json=body)) for _ in range(8)]
            while not all(p.done() for p in posts):
                now = await asyncio.to_thread(gauges, server.url)
                seen.append(now["mlmodel_inference_requests_in_flight"])
            assert [p.result().status_code for p in posts] == [200] * 8

    asyncio.run(load())
    assert max(seen) >= 2  # a queue formed behind the one interpreter
    assert gauges(server.url)["mlmodel_inference_requests_in_flight"] == 0
