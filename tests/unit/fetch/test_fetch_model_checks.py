"""A package the server could not start on is refused by `mlmodel fetch` (exit 1, the reason
in its termination message), and described by `contents` the way the operator records it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tests.support.archives import tar_gz, zipped

from mlmodel_fetch import contents
from mlmodel_fetch.cli import main
from mlmodel_fetch.errors import FetchError

MODELS = Path(__file__).resolve().parents[2] / "fixtures" / "models"
MODEL = (MODELS / "classifier_uint8.tflite").read_bytes()  # a 4-class classifier
LABELS = (MODELS / "classifier_labels.txt").read_bytes()
TEXT = b"this is a text file, not a model\n" * 10


def fetch(tmp_path: Path, name: str, data: bytes, *extra: str) -> tuple[int, dict, Path]:
    """Run `mlmodel fetch --file` on `data`; exit code, termination message, destination."""
    src, dest, term = tmp_path / name, tmp_path / "dest", tmp_path / "termination-log"
    src.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    rc = main(["--file", str(src), "--sha256", sha, "--dest", str(dest), "--summary-to", str(term), *extra])
    return rc, json.loads(term.read_text()), dest


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_a_text_file_named_tflite_is_refused_though_its_sha256_is_right(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, term, dest = fetch(tmp_path, "model.tflite", TEXT)
    assert rc == 1
    assert term["error"] == "model.tflite is not a TFLite flatbuffer (no TFL3 identifier)"
    assert "not a TFLite flatbuffer" in one_line_error(capsys)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("pack", [tar_gz, zipped])
def test_an_archive_without_the_model_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pack: object
) -> None:
    data = pack({"fruit/other.tflite": MODEL, "fruit/labels.txt": LABELS})  # type: ignore[operator]
    rc, term, dest = fetch(tmp_path, "p.tar.gz", data, "--model", "fruit/model.tflite")
    assert rc == 1
    assert term["error"] == (
        "model file fruit/model.tflite is not in the package (it holds fruit/labels.txt, fruit/other.tflite)"
    )
    assert "fruit/model.tflite is not in the package" in one_line_error(capsys)
    assert list(dest.iterdir()) == []


def test_an_archive_whose_model_file_is_not_tflite_is_refused(tmp_path: Path) -> None:
    rc, term, _ = fetch(tmp_path, "p.tar.gz", tar_gz({"model.tflite": TEXT}), "--model", "model.tflite")
    assert rc == 1
    assert term["error"] == "model file model.tflite is not a TFLite flatbuffer (no TFL3 identifier)"


def test_the_named_model_is_placed_and_summarised(tmp_path: Path) -> None:
    files = {"a/first.tflite": MODEL, "b/c/model.tflite": MODEL, "b/c/labels.txt": LABELS}
    rc, term, dest = fetch(tmp_path, "p.tar.gz", tar_gz(files), "--model", "./b/c/model.tflite")
    assert rc == 0
    assert term["model"] == "b/c/model.tflite"  # not the shallowest one: the one the server loads
    assert term["outputs"][0]["shape"] == [1, 4]
    assert (dest / "b/c/labels.txt").read_bytes() == LABELS


def test_a_labels_only_package_still_fetches(tmp_path: Path) -> None:
    rc, term, dest = fetch(tmp_path, "labels.txt", LABELS)
    assert rc == 0 and "error" not in term
    assert (dest / "labels.txt").read_bytes() == LABELS


# --- contents: what the operator records for a version's bytes ------------------------------


def test_bare_model_is_described_with_its_classes() -> None:
    described = contents.describe_bytes(MODEL, "fruit.tflite", 1 << 20)
    assert described == contents.Contents((contents.FileFacts("fruit.tflite", "TFLite", classes=4),))


def test_archive_files_are_described_like_the_server_reads_them() -> None:
    labels = b"red\ngreen\n\nblue\n\n\n"  # a blank line inside counts, trailing ones do not
    data = zipped({"./pkg/model.tflite": MODEL, "pkg/labels.txt": labels, "pkg/x.bin": b"\xff\xfe\x00"})
    described = contents.describe_bytes(data, "p.zip", 1 << 20)
    assert [f.to_status() for f in described.files] == [
        {"path": "pkg/model.tflite", "format": "TFLite", "classes": 4},
        {"path": "pkg/labels.txt", "format": "Text", "lines": 4},
        {"path": "pkg/x.bin", "format": "Other"},
    ]
    assert described.complete
    assert contents.Contents.from_status(described.to_status()) == described
    assert described.find("pkg//model.tflite") == described.files[0]


def test_a_large_archive_is_described_only_in_part() -> None:
    many = {f"f{i:03}.txt": b"x\n" for i in range(contents.MAX_FILES + 1)}
    listed = contents.describe_bytes(tar_gz(many), "p.tar.gz", 1 << 20)
    assert (len(listed.files), listed.complete) == (contents.MAX_FILES, False)
    assert listed.to_status()["filesTruncated"] is True
    bomb = contents.describe_bytes(tar_gz({"model.tflite": MODEL, "big.bin": b"\0" * 4096}), "p.tar.gz", 3000)
    assert bomb.complete is False and bomb.find("model.tflite") is not None


def test_an_unreadable_archive_is_an_error() -> None:
    with pytest.raises(FetchError, match=r"cannot read tar\.gz archive"):
        contents.describe_bytes(b"\x1f\x8b" + b"garbage" * 10, "p.tar.gz", 1 << 20)
