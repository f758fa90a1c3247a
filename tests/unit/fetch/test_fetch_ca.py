"""`mlmodel fetch --ca-file`: a server with a private CA (a company's artifact server) is
trusted through its PEM bundle and only through it, like curl --cacert. Without the bundle,
or with another one, the download fails at once with one line naming the CAs it trusted.

The server is a real loopback https server whose certificate a throw-away CA issued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.tls import Authority, https_server

from mlmodel_fetch.cli import main

MODEL = b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64
SHA = hashlib.sha256(MODEL).hexdigest()


@pytest.fixture()
def corp() -> Authority:
    return Authority("corp artifact CA")


@pytest.fixture()
def url(tmp_path: Path, corp: Authority, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A model on an https server with a certificate from `corp`, which the system store does not know."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    root = tmp_path / "www"
    root.mkdir()
    (root / "m.tflite").write_bytes(MODEL)
    with https_server(root, corp.server_context()) as base:
        yield f"{base}/m.tflite"


def fetch(url: str, dest: Path, *extra: str) -> int:
    return main(["--url", url, "--sha256", SHA, "--dest", str(dest), *extra])


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


def test_a_private_ca_server_is_fetched_with_its_bundle(url: str, corp: Authority, tmp_path: Path) -> None:
    bundle = corp.write(tmp_path / "ca.crt")
    assert fetch(url, tmp_path / "d", "--ca-file", str(bundle)) == 0
    assert (tmp_path / "d" / "m.tflite").read_bytes() == MODEL


def test_without_the_bundle_the_error_points_at_ca_config_map(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fetch(url, tmp_path / "d") == 1
    line = one_line(capsys)
    assert f"GET {url}: certificate verify failed" in line
    assert "system CA store; a server with a private CA needs source.caConfigMap" in line
    assert list((tmp_path / "d").iterdir()) == []


def test_only_the_bundle_is_trusted_not_the_system_store_as_well(
    url: str,
    corp: Authority,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(corp.write(tmp_path / "system.pem")))
    assert fetch(url, tmp_path / "a") == 0  # the system store now trusts the server
    other = Authority("another CA").write(tmp_path / "other.crt")
    assert fetch(url, tmp_path / "b", "--ca-file", str(other)) == 1
    line = one_line(capsys)
    assert "certificate verify failed" in line and line.endswith(f"(CA bundle {other})")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "ca.crt: No such file or directory"),
        ("", "ca.crt holds no PEM certificate"),  # never a fallback to the system store
        ("not a certificate\n", "ca.crt holds no PEM certificate"),
    ],
    ids=["missing", "empty", "not-pem"],
)
def test_a_bad_bundle_is_named_before_the_destination_is_touched(
    content: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "ca.crt"
    if content is not None:
        bundle.write_text(content)
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "previous.tflite").write_bytes(b"old")
    assert fetch("https://127.0.0.1:9/m.tflite", dest, "--ca-file", str(bundle)) == 1
    assert one_line(capsys) == f"mlmodel fetch: error: CA bundle {tmp_path}/{message}"
    assert (dest / "previous.tflite").exists()
