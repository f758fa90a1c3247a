"""`mlmodel serve` start-up errors: one clear line on stderr, non-zero exit, no traceback."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MODELS, PACKAGES


def serve(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mlmodel_server.cli", "serve", "--port", "0", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line and "XNNPACK" not in line]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def test_missing_model(tmp_path):
    assert_one_line_error(serve("--model", tmp_path / "nope.tflite"), "cannot read model file")


def test_not_a_tflite_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"onnx")
    assert_one_line_error(serve("--model", path), "is not a .tflite file")


def test_corrupt_model(tmp_path):
    path = tmp_path / "broken.tflite"
    path.write_bytes(b"\x00\x00\x00\x00TFL3" + b"\x01" * 64)
    assert_one_line_error(serve("--model", path), "cannot be loaded")
    path.write_bytes(b"hello, I am text")
    assert_one_line_error(serve("--model", path), "not a TFLite flatbuffer")


def test_unreadable_labels(tmp_path):
    assert_one_line_error(
        serve("--model", MODELS / "classifier_uint8.tflite", "--labels", tmp_path / "none.txt"),
        "cannot read labels file",
    )


def test_labels_that_do_not_match_the_model(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    assert_one_line_error(
        serve("--model", MODELS / "classifier_uint8.tflite", "--labels", labels),
        "has 2 labels but model output",
    )


@pytest.mark.parametrize("value,fragment", [("0", "must be at least 1"), ("x", "is not an integer")])
def test_bad_num_threads(value, fragment):
    assert_one_line_error(serve("--model", MODELS / "multi_io.tflite", "--num-threads", value), fragment)


def test_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "mlmodel_server.cli", "serve", "--port", str(port)]
        result = subprocess.run(
            [*command, "--model", str(MODELS / "multi_io.tflite")], capture_output=True, text=True, timeout=60
        )
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}")


def test_package_dir_errors(tmp_path):
    assert_one_line_error(serve("--package-dir", tmp_path), "cannot read package manifest")
    package = tmp_path / "pkg"
    shutil.copytree(PACKAGES / "fruit_classifier", package)
    manifest = (package / "MLmodel").read_text()
    (package / "MLmodel").write_text(manifest.replace("model_path: model.tflite", "model_path: ../x.tflite"))
    assert_one_line_error(serve("--package-dir", package), "points outside the package")
    (package / "MLmodel").write_text(manifest.replace('"dtype": "uint8"', '"dtype": "float32"'))
    assert_one_line_error(serve("--package-dir", package), "signature.inputs tensor 'image' is float32")


def test_bad_vision_config(tmp_path):
    config = tmp_path / "vision.json"
    config.write_text('{"xmin_ymin_xmax_ymax_order": [1, 1, 2, 3]}')
    result = serve("--model", MODELS / "detector_ssd.tflite", "--vision-config", config)
    assert_one_line_error(result, "xmin_ymin_xmax_ymax_order")


def test_no_model_at_all():
    assert_one_line_error(serve(), "one of the arguments --model --package-dir is required")


def test_missing_auth_token_file(tmp_path):
    result = serve("--model", MODELS / "multi_io.tflite", "--auth-token-file", tmp_path / "token")
    assert_one_line_error(result, "cannot read auth token file")


def test_vision_pod_refuses_a_model_no_image_request_can_use(tmp_path):
    """A VisionService's server exits 1 naming the problem instead of turning Ready."""
    config = tmp_path / "vision.json"
    config.write_text("{}")
    result = serve("--model", MODELS / "multi_io.tflite", "--vision-config", config)
    assert_one_line_error(result, "model 'multi_io' cannot serve vision: no single image input")


def test_plain_service_still_serves_a_non_image_model(serve_process):
    """Without --vision-config the same model serves OIP; only vision routes would refuse."""
    server = serve_process("--model", MODELS / "multi_io.tflite")
    assert server.proc.poll() is None


def test_column_signature_that_does_not_fit_the_model(tmp_path):
    package = tmp_path / "iris"
    shutil.copytree(PACKAGES / "iris_classifier", package)
    manifest = (package / "MLmodel").read_text()
    last = ', {"type": "double", "name": "petal width (cm)", "required": true}'
    (package / "MLmodel").write_text(manifest.replace(last, ""))
    result = serve("--package-dir", package, "--grpc-port", "0")
    assert_one_line_error(
        result, "signature.inputs has 3 columns but the model's input 'features' is float32[-1, 4]"
    )


def stated(tmp_path: Path, *args: str | Path) -> tuple[str, str]:
    """The (reason, error) a failed start writes to --termination-log, as a pod's would."""
    log = tmp_path / "termination-log"
    assert serve(*args, "--termination-log", log).returncode == 1
    data = json.loads(log.read_text())
    return data["reason"], data["error"]


def test_a_model_that_cannot_serve_states_a_stable_reason_for_the_pods_status(tmp_path):
    text = tmp_path / "text.tflite"
    text.write_bytes(b"hello, I am text")
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x00\x00\x00\x00TFL3" + b"\x01" * 64)
    labels = tmp_path / "two.txt"
    labels.write_text("a\nb\n")
    assert stated(tmp_path, "--model", text)[0] == "NotTFLite"
    reason, error = stated(tmp_path, "--model", broken)
    assert reason == "ModelLoadFailed" and error.startswith("mlmodel serve: error: model file")
    assert (
        stated(tmp_path, "--model", MODELS / "classifier_uint8.tflite", "--labels", labels)[0]
        == "LabelsMismatch"
    )
    vision = (
        "--model",
        MODELS / "iris_classifier.tflite",
        "--vision-name",
        "v",
        "--vision-config",
        tmp_path / "v.json",
    )
    (tmp_path / "v.json").write_text("{}")
    assert stated(tmp_path, *vision)[0] == "TensorMismatch"


def test_without_a_termination_log_nothing_is_written(tmp_path):
    assert serve("--model", tmp_path / "nope.tflite").returncode == 1
    assert list(tmp_path.iterdir()) == []
