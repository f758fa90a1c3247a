"""A real `mlmodel serve` and its self-test: ready only after the model answered, refused in
one line when the package's output_example says the model is the wrong one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import PACKAGES

FRUIT = PACKAGES / "fruit_classifier"


def with_output_example(tmp_path: Path, predictions: list) -> Path:
    root = tmp_path / "fruit"
    shutil.copytree(FRUIT, root)
    (root / "output_example.json").write_text(json.dumps({"predictions": predictions}))
    with (root / "MLmodel").open("a") as manifest:
        manifest.write("output_example: output_example.json\n")
    return root


def test_a_wrong_model_never_listens_and_says_why_in_one_line(tmp_path):
    root = with_output_example(tmp_path, [[0.0, 1.0, 0.0, 0.0]])
    command = [sys.executable, "-m", "mlmodel_server.cli", "serve", "--package-dir", str(root), "--port", "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    lines = [line for line in result.stderr.splitlines() if line and "XNNPACK" not in line]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert lines == [
        "mlmodel serve: error: self-test (output_example): output 'probabilities' differs from the "
        "output_example by 0.9975 at [0, 1] (answered 0.00246622, expected 1; tolerance 0.001)"
    ]


def test_the_right_answer_makes_it_ready_and_the_result_is_published(tmp_path, expected, serve_process):
    answer = expected["packages"]["fruit_classifier"]["input_example_outputs"]["probabilities"]
    server = serve_process("--package-dir", with_output_example(tmp_path, answer))
    report = httpx.get(f"{server.url}/v1/selftest").json()
    assert report["ready"] is True
    assert {k: report["models"][0][k] for k in ("name", "version", "passed", "check")} == {
        "name": "fruit",
        "version": "1.0.0",
        "passed": True,
        "check": "output_example",
    }
    assert 0 < report["models"][0]["durationSeconds"] < 5
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'mlmodel_selftest_passed{check="output_example",model="fruit"} 1.0' in metrics


def test_a_pods_model_path_uses_its_packages_example(serve_process):
    """The operator's pods name the model file and the package it came in (--package-root)."""
    server = serve_process(
        "--model",
        FRUIT / "model.tflite",
        "--package-root",
        FRUIT,
        "--name",
        "fruit",
        "--recheck-seconds",
        "0",
    )
    assert httpx.get(f"{server.url}/v1/selftest").json()["models"][0]["check"] == "input_example"
    server.stop()
    assert "self-test passed: 'fruit' answered its input_example in" in server.proc.stderr.read()
