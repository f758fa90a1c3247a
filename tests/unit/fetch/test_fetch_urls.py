"""The URL policy of `mlmodel fetch`: https by default, plain http only on explicit opt-in,
the same rule on every redirect, and no other scheme ever (urllib would open file:, ftp:).

A loopback TLS server with a throw-away CA (trusted through SSL_CERT_FILE) proves that
https downloads work and that an https → http downgrade is refused.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.tls import Authority

from mlmodel_fetch import urls
from mlmodel_fetch.cli import main
from mlmodel_fetch.errors import FetchError
from mlmodel_fetch.fetch import source_name

MODEL = b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64
SHA = hashlib.sha256(MODEL).hexdigest()


@dataclass
class Servers:
    https: str
    http: str


def _handler(root: Path, redirects: dict[str, str]) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(root), **kw)

        def do_GET(self) -> None:
            if self.path in redirects:
                self.send_response(302)
                self.send_header("Location", redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture()
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    """An https and an http server on loopback serving the same files, plus redirects."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "m.tflite").write_bytes(MODEL)
    redirects: dict[str, str] = {}
    ca = Authority("mlmodel-fetch test CA")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.write(tmp_path / "ca.pem")))
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, redirects))
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, redirects))
    tls.socket = ca.server_context().wrap_socket(tls.socket, server_side=True)
    for server in (plain, tls):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    found = Servers(
        f"https://127.0.0.1:{tls.server_address[1]}", f"http://127.0.0.1:{plain.server_address[1]}"
    )
    redirects["/to-http.tflite"] = f"{found.http}/m.tflite"
    redirects["/to-https.tflite"] = f"{found.https}/m.tflite"
    redirects["/to-ftp.tflite"] = "ftp://127.0.0.1/m.tflite"  # urllib itself would follow this one
    redirects["/to-file.tflite"] = "file:///etc/hostname"  # and refuses this one on its own
    yield found
    for server in (plain, tls):
        server.shutdown()
        server.server_close()


def fetch(url: str, dest: Path, *extra: str) -> int:
    return main(["--url", url, "--sha256", SHA, "--dest", str(dest), *extra])


def test_https_is_fetched(servers: Servers, tmp_path: Path) -> None:
    assert fetch(f"{servers.https}/m.tflite", tmp_path / "d") == 0
    assert (tmp_path / "d" / "m.tflite").read_bytes() == MODEL


def test_plain_http_is_refused_by_default(
    servers: Servers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "previous.tflite").write_bytes(b"old")
    assert fetch(f"{servers.http}/m.tflite", dest) == 1
    err = capsys.readouterr().err
    assert "refusing plain http URL" in err and "allowInsecureHttp" in err
    assert (dest / "previous.tflite").exists()  # refused before touching the destination


def test_plain_http_with_explicit_opt_in(servers: Servers, tmp_path: Path) -> None:
    assert fetch(f"{servers.http}/m.tflite", tmp_path / "d", "--allow-insecure-http") == 0


def test_https_to_http_redirect_is_refused(
    servers: Servers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fetch(f"{servers.https}/to-http.tflite", tmp_path / "d") == 1
    err = capsys.readouterr().err
    assert "redirect from" in err and "refusing plain http URL" in err
    assert list((tmp_path / "d").iterdir()) == []


def test_redirects_within_the_policy_are_followed(servers: Servers, tmp_path: Path) -> None:
    assert fetch(f"{servers.http}/to-https.tflite", tmp_path / "a", "--allow-insecure-http") == 0
    assert fetch(f"{servers.https}/to-http.tflite", tmp_path / "b", "--allow-insecure-http") == 0


def test_redirect_to_another_scheme_is_refused(
    servers: Servers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fetch(f"{servers.https}/to-ftp.tflite", tmp_path / "d", "--allow-insecure-http") == 1
    assert "only https:// URLs" in capsys.readouterr().err
    assert fetch(f"{servers.https}/to-file.tflite", tmp_path / "e", "--allow-insecure-http") == 1
    assert "not allowed" in capsys.readouterr().err


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/m.tflite",
        "data:application/octet-stream;base64,AAAA",
        "https:///no-host.tflite",
        "m.tflite",
    ],
)
def test_other_schemes_are_never_fetched(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fetch(url, tmp_path / "d", "--allow-insecure-http") == 1
    assert "only https:// URLs" in capsys.readouterr().err
    with pytest.raises(FetchError):
        urls.check_url(url, allow_insecure_http=True)


def test_scheme_check_ignores_case() -> None:
    urls.check_url("HTTPS://example.com/m.tflite")
    with pytest.raises(FetchError, match="plain http"):
        urls.check_url("HTTP://example.com/m.tflite")


def test_url_file_names_cannot_traverse() -> None:
    """A bare model keeps the URL's last path segment, decoded: never a path."""
    assert source_name("https://x/a/..%2F..%2Fetc%2Fpasswd.tflite", None) == "passwd.tflite"
    assert source_name("https://x/", None) == "model.tflite"
