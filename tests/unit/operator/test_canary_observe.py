"""Reading a step's pods: the server's own per-version families, summed over pods."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from tests.conftest import MODELS
from tests.support.httpd import QuietHandler, serving

from mlmodel_operator import podmetrics
from mlmodel_operator.canary.observe import Observed, quantile, read_pod, scrape
from mlmodel_operator.podmetrics import targets
from mlmodel_server.canary.split import SplitCollector, SplitPlan, VersionSplit
from mlmodel_server.runtime.model import ModelConfig, TFLiteModel

STABLE = ModelConfig(
    MODELS / "classifier_float32.tflite", name="colour", version="2", pool_size=1, solo_threads=0
)


def served_text(candidate_file: str, requests: int) -> str:
    """The exposition of a real split after `requests` mirrored requests at 10 %."""
    candidate = replace(STABLE, model_path=MODELS / candidate_file, version="3")
    stable, other = TFLiteModel(STABLE), TFLiteModel(candidate)
    stable.load()
    other.load()
    split = VersionSplit(stable, other, SplitPlan(candidate, 10, mirror=True, seed=1))
    split.max_shadows = requests  # every request mirrored, however the runs interleave

    async def run() -> None:
        for _ in range(requests):
            await split.predict({"image": np.zeros((1, 32, 32, 3), np.float32)})
        await asyncio.sleep(0.05)

    try:
        asyncio.run(run())
        registry = CollectorRegistry()
        registry.register(SplitCollector({"colour": split}))
        return generate_latest(registry).decode()
    finally:
        split.close()


def test_a_pod_report_counts_the_candidates_answers_runs_and_comparisons():
    seen = read_pod(served_text("classifier_shifted.tflite", 200), "3")
    assert (seen.answers, seen.candidate_answers, seen.candidate_runs) == (200, 20, 200)
    assert (seen.comparisons, seen.agreements, seen.candidate_errors) == (200, 0, 0)
    assert seen.share == 0.1 and seen.agreement == 0.0
    assert 0 < seen.p99_ms < 1000


def test_pods_add_up_and_unreachable_ones_are_named():
    one = Observed(pods=1, answers=10, candidate_answers=1, buckets=((0.01, 1.0), (math.inf, 1.0)))
    other = Observed(pods=1, answers=30, candidate_answers=3, buckets=((0.01, 2.0), (math.inf, 3.0)))
    total = one.plus(other).plus(Observed(unreachable=("pod-c: timed out",)))
    assert (total.pods, total.answers, total.share) == (2, 40, 0.1)
    assert total.buckets == ((0.01, 3.0), (math.inf, 4.0))
    assert total.to_status()["unreachable"] == ["pod-c: timed out"]


def test_the_p99_is_interpolated_as_prometheus_does_and_beyond_the_last_bound_is_infinite():
    buckets = ((0.001, 0.0), (0.002, 100.0), (math.inf, 100.0))
    assert quantile(0.99, buckets) == pytest.approx(0.00199)
    assert quantile(0.99, ((0.001, 50.0), (math.inf, 100.0))) == math.inf
    assert quantile(0.99, ()) == 0.0


def test_targets_follow_the_template_and_bracket_ipv6():
    pods = [
        {"metadata": {"name": "a", "namespace": "ns"}, "status": {"podIP": "10.0.0.7"}},
        {"metadata": {"name": "b", "namespace": "ns"}, "status": {"podIP": "fd00::7"}},
        {"metadata": {"name": "c", "namespace": "ns"}, "status": {}},
    ]
    found = targets(pods, "http://{ip}:8080/metrics?pod={namespace}/{name}")
    assert [t.url for t in found] == [
        "http://10.0.0.7:8080/metrics?pod=ns/a",
        "http://[fd00::7]:8080/metrics?pod=ns/b",
    ]


@pytest.fixture
def metrics_server() -> Iterator[str]:
    text = served_text("classifier_float32.tflite", 100).encode()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(text)

    with serving(Handler) as url:
        yield url


def test_scrape_reads_every_pod_and_names_the_ones_it_could_not(metrics_server):
    pods = [{"metadata": {"name": n}, "status": {"podIP": "127.0.0.1"}} for n in ("a", "b")]
    found = targets(pods, metrics_server + "/{name}")
    found.append(replace(found[0], pod="gone", url="http://127.0.0.1:9/metrics"))
    seen = scrape(found, "3", timeout=2)
    assert (seen.pods, seen.answers, seen.comparisons, seen.agreement) == (2, 200, 200, 1.0)
    assert seen.unreachable and seen.unreachable[0].startswith("gone: ")


def test_a_pod_whose_text_is_not_prometheus_is_named_not_raised(metrics_server):
    """podmetrics.read, which idle stop shares: a parse error is the pod's, like a failed GET."""
    found = targets(
        [{"metadata": {"name": "a"}, "status": {"podIP": "127.0.0.1"}}], metrics_server + "/{name}"
    )

    def parse(text: str) -> str:
        raise ValueError("Invalid line: <html>")

    assert podmetrics.read(found, 2, parse, lambda why: why) == ["a: Invalid line: <html>"]
