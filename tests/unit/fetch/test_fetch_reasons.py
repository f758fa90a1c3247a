"""Each way a fetch fails has a stable reason in the termination message, which the
operator's status shows as the condition's reason (docs/operator.md, Troubleshooting)."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.archives import tar_gz
from tests.support.httpd import directory_handler, serving

from mlmodel_fetch.cli import main

MODEL = (Path(__file__).resolve().parents[2] / "fixtures" / "models" / "classifier_uint8.tflite").read_bytes()
STATUS = {"/gone": 404, "/secret": 401, "/forbidden": 403, "/broken": 500, "/bad": 400}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Files from a directory, and the statuses of STATUS for their paths."""
    root = tmp_path_factory.mktemp("www")
    (root / "big.tflite").write_bytes(MODEL)
    (root / "traversal.tar.gz").write_bytes(tar_gz({"../evil": b"x"}))

    class Handler(directory_handler(root)):  # type: ignore[misc]
        def do_GET(self) -> None:
            if self.path in STATUS:
                self.send_error(STATUS[self.path])
                return
            super().do_GET()

    with serving(Handler) as url:
        yield url


def reason(tmp_path: Path, *args: str) -> str:
    term = tmp_path / "termination-log"
    rc = main([*args, "--dest", str(tmp_path / "dest"), "--summary-to", str(term), "--timeout", "2"])
    assert rc == 1
    return json.loads(term.read_text())["reason"]


def url(tmp_path: Path, address: str, *extra: str) -> str:
    return reason(tmp_path, "--url", address, "--allow-insecure-http", "--sha256", "0" * 64, *extra)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/gone", "FetchNotFound"),
        ("/secret", "FetchUnauthorized"),
        ("/forbidden", "FetchUnauthorized"),
        ("/bad", "FetchFailed"),
        ("/big.tflite", "ChecksumMismatch"),
    ],
)
def test_an_http_answer_names_its_reason(tmp_path: Path, server: str, path: str, expected: str) -> None:
    assert url(tmp_path, server + path) == expected


def test_a_download_over_the_limit_is_too_large(tmp_path: Path, server: str) -> None:
    assert url(tmp_path, f"{server}/big.tflite", "--max-bytes", "100") == "TooLarge"


def test_nothing_listening_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    assert url(tmp_path, f"http://127.0.0.1:{port}/m.tflite") == "FetchUnreachable"


def test_plain_http_without_the_opt_in_is_an_insecure_source(tmp_path: Path) -> None:
    assert reason(tmp_path, "--url", "http://127.0.0.1:1/m.tflite", "--sha256", "0" * 64) == "InsecureSource"


def test_file_sources_name_missing_files_unsafe_archives_and_non_models(tmp_path: Path) -> None:
    def file_reason(name: str, data: bytes | None, *extra: str) -> str:
        src = tmp_path / name
        if data is not None:
            src.write_bytes(data)
        sha = hashlib.sha256(data or b"").hexdigest()
        return reason(tmp_path, "--file", str(src), "--sha256", sha, *extra)

    assert file_reason("absent.tflite", None) == "FetchNotFound"
    assert file_reason("evil.tar.gz", tar_gz({"../evil": b"x"})) == "InvalidArchive"
    assert file_reason("text.tflite", b"not a model at all") == "NotTFLite"
    assert (
        file_reason("p.tar.gz", tar_gz({"labels.txt": b"a\n"}), "--model", "model.tflite")
        == "ModelFileMissing"
    )


def test_a_failure_message_starts_with_its_reason_and_stays_small() -> None:
    """The kubelet keeps 4096 bytes of the file at most (less with many containers)."""
    from mlmodel_fetch.summary import failure

    message = failure("FetchNotFound", "GET https://x/" + "模型" * 3000)
    assert message.startswith('{"reason": "FetchNotFound", "error": "GET https://x/模型')
    assert len(message.encode()) < 3200 and json.loads(message)["reason"] == "FetchNotFound"
