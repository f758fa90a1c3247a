"""`mlmodel fetch` end to end on local files and a loopback HTTP server."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.archives import tar_gz
from tests.support.httpd import directory_handler, serving

from mlmodel_fetch.cli import main
from mlmodel_fetch.summary import encode

FAKE_TFLITE = b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_file_source_is_copied_and_summarised(tmp_path: Path) -> None:
    src = tmp_path / "fruit.tflite"
    src.write_bytes(FAKE_TFLITE)
    dest, summary = tmp_path / "models" / "fruit", tmp_path / "term"
    rc = main(
        ["--file", str(src), "--sha256", sha(FAKE_TFLITE), "--dest", str(dest), "--summary-to", str(summary)]
    )
    assert rc == 0
    assert (dest / "fruit.tflite").read_bytes() == FAKE_TFLITE
    data = json.loads(summary.read_text())
    assert data["sha256"] == sha(FAKE_TFLITE)
    assert data["model"] == "fruit.tflite"
    assert "summaryError" in data  # not a loadable model, but fetch still succeeds


def test_sha256_mismatch_exits_nonzero_with_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "m.tflite"
    src.write_bytes(FAKE_TFLITE)
    dest, summary = tmp_path / "d", tmp_path / "term"
    rc = main(["--file", str(src), "--sha256", "0" * 64, "--dest", str(dest), "--summary-to", str(summary)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "sha256 mismatch" in err and "expected " + "0" * 64 in err
    assert list(dest.iterdir()) == []  # nothing half-trusted is left behind
    assert "sha256 mismatch" in json.loads(summary.read_text())["error"]


def test_missing_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--file", str(tmp_path / "nope"), "--dest", str(tmp_path / "d")])
    assert rc == 1
    assert "does not exist" in capsys.readouterr().err


def test_url_requires_sha256(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "http://127.0.0.1:9/m.tflite", "--dest", str(tmp_path)]) == 2
    assert "--sha256 is required" in capsys.readouterr().err


def test_bad_sha256_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--file", "x", "--sha256", "xyz", "--dest", str(tmp_path)])
    assert exc.value.code == 2


@pytest.fixture()
def http_server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()

    with serving(directory_handler(root)) as url:
        yield url


def test_url_tar_gz_is_downloaded_and_unpacked(tmp_path: Path, http_server: str) -> None:
    blob = tar_gz({"model.tflite": FAKE_TFLITE, "labels.txt": b"apple\nbanana\n"})
    (tmp_path / "www" / "pkg.tar.gz").write_bytes(blob)
    dest = tmp_path / "d"
    rc = main(
        [
            "--url",
            f"{http_server}/pkg.tar.gz",
            "--allow-insecure-http",
            "--sha256",
            sha(blob),
            "--dest",
            str(dest),
        ]
    )
    assert rc == 0
    assert (dest / "labels.txt").read_text() == "apple\nbanana\n"
    assert not (dest / "pkg.tar.gz").exists()


def test_url_404_is_a_clear_error(
    tmp_path: Path, http_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "--url",
            f"{http_server}/missing.tflite",
            "--allow-insecure-http",
            "--sha256",
            "0" * 64,
            "--dest",
            str(tmp_path / "d"),
        ]
    )
    assert rc == 1
    assert "HTTP 404" in capsys.readouterr().err


def test_oversize_download_is_refused(
    tmp_path: Path, http_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "www" / "big.tflite").write_bytes(b"x" * 5000)
    rc = main(
        [
            "--url",
            f"{http_server}/big.tflite",
            "--allow-insecure-http",
            "--sha256",
            "0" * 64,
            "--dest",
            str(tmp_path / "d"),
            "--max-bytes",
            "1000",
        ]
    )
    assert rc == 1
    assert "larger than the limit" in capsys.readouterr().err


def test_summary_is_truncated_to_the_termination_message_limit() -> None:
    tensors = [{"name": f"t{i}", "dtype": "float32", "shape": [1, 2, 3]} for i in range(500)]
    line = encode({"sha256": "a" * 64, "size": 1, "inputs": tensors[:3], "outputs": tensors})
    assert len(line.encode()) <= 4096
    data = json.loads(line)
    assert data["truncated"] is True and len(data["inputs"]) == 3


MODELS = Path(__file__).resolve().parents[2] / "fixtures" / "models"


@pytest.mark.skipif(not (MODELS / "classifier_uint8.tflite").exists(), reason="fixture models not generated")
def test_real_model_summary_lists_tensors(tmp_path: Path) -> None:
    model = MODELS / "classifier_uint8.tflite"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(model, arcname="fruit/model.tflite")
        tar.add(MODELS / "classifier_labels.txt", arcname="fruit/labels.txt")
    archive = tmp_path / "fruit.tar.gz"
    archive.write_bytes(buf.getvalue())
    dest, term = tmp_path / "d", tmp_path / "term"
    rc = main(
        [
            "--file",
            str(archive),
            "--sha256",
            sha(buf.getvalue()),
            "--dest",
            str(dest),
            "--summary-to",
            str(term),
        ]
    )
    assert rc == 0
    data = json.loads(term.read_text())
    assert data["model"] == "fruit/model.tflite"
    assert data["inputs"][0]["dtype"] == "uint8"
    assert len(data["inputs"][0]["shape"]) == 4
    assert data["outputs"]
