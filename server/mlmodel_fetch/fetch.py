"""Download or copy one package version, verify it, and put it in place.

The order matters: bytes are hashed while they stream into a temporary file
inside the destination, compared with the expected sha256, and only then
unpacked or renamed. A mismatch therefore never leaves a half-trusted model
where the inference server would load it.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from mlmodel_fetch import archive, contents, errors, urls
from mlmodel_fetch.errors import FetchError

DEFAULT_MAX_BYTES = 2 << 30
_CHUNK = 1 << 20
_PART = ".mlmodel-fetch.part"


@dataclass(frozen=True)
class Fetched:
    """What was placed in the destination, for the summary."""

    sha256: str
    size: int
    kind: str
    files: tuple[Path, ...]


def _stream(src: IO[bytes], out: IO[bytes], max_bytes: int, what: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := src.read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"{what} is larger than the limit of {max_bytes} bytes", errors.TOO_LARGE)
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest(), size


def _download(
    url: str, part: Path, max_bytes: int, timeout: float, http: urllib.request.OpenerDirector, cas: str
) -> tuple[str, int]:
    """GET `url` with a few retries on transient errors (never on 4xx, nor on a certificate the
    trusted CAs, named by `cas`, reject); `http` keeps redirects to the URL policy."""
    for attempt in range(3):
        try:
            req = urllib.request.Request(url, headers={"User-Agent": "mlmodel-fetch"})
            with http.open(req, timeout=timeout) as resp, part.open("wb") as out:
                return _stream(resp, out, max_bytes, url)
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == 2:
                raise FetchError(f"GET {url}: HTTP {exc.code} {exc.reason}", http_reason(exc.code)) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            untrusted = urls.certificate_failure(exc, cas)
            if untrusted:
                raise FetchError(f"GET {url}: {untrusted}", errors.UNTRUSTED) from exc
            if attempt == 2:
                reason = getattr(exc, "reason", exc)
                raise FetchError(f"GET {url}: {reason}", errors.UNREACHABLE) from exc
        time.sleep(2**attempt)
    raise AssertionError("unreachable")


def http_reason(code: int) -> str:
    """The stable reason of an HTTP error answer (the operator's URL check uses it too)."""
    if code in (404, 410):
        return errors.NOT_FOUND
    if code in (401, 403):
        return errors.UNAUTHORIZED
    return errors.UNREACHABLE if code >= 500 else errors.FETCH_FAILED


def _copy(path: Path, part: Path, max_bytes: int) -> tuple[str, int]:
    try:
        with path.open("rb") as src, part.open("wb") as out:
            return _stream(src, out, max_bytes, str(path))
    except FileNotFoundError as exc:
        raise FetchError(f"source file {path} does not exist", errors.NOT_FOUND) from exc
    except IsADirectoryError as exc:
        raise FetchError(f"source {path} is a directory, expected a file", errors.NOT_FOUND) from exc


def source_name(url: str | None, file: Path | None) -> str:
    """The file name a bare model keeps in the destination (`model.tflite` if unknown)."""
    if url is not None:
        name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    else:
        name = file.name if file is not None else ""
    return name or "model.tflite"


def verify(actual: str, expected: str | None, what: str) -> None:
    """Refuse bytes whose digest differs from the one the ModelPackage declared."""
    if expected is not None and actual.lower() != expected.lower():
        raise FetchError(
            f"sha256 mismatch for {what}: expected {expected.lower()}, got {actual}", errors.CHECKSUM
        )


def check_model(dest: Path, model: str) -> None:
    """Refuse a package the server could not start on: its model file absent, or not TFLite."""
    path = archive.safe_member_path(dest, model)
    if not path.is_file():
        present = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
        raise FetchError(
            contents.missing("model file", contents.member_path(model), present), errors.MODEL_MISSING
        )
    if not contents.is_tflite(_head(path)):
        raise FetchError(contents.not_a_model(contents.member_path(model)), errors.NOT_TFLITE)


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(8)


def _place(part: Path, dest: Path, name: str, max_bytes: int) -> tuple[str, tuple[Path, ...]]:
    head = _head(part)
    kind = contents.kind_of(head, name)
    if kind == "tar.gz":
        files = archive.extract_tar(part, dest, max_bytes)
    elif kind == "zip":
        files = archive.extract_zip(part, dest, max_bytes)
    else:
        problem = contents.bare_file_problem(name, head)
        if problem:
            raise FetchError(problem, errors.NOT_TFLITE)
        target = archive.safe_member_path(dest, name)
        os.replace(part, target)
        return kind, (target,)
    part.unlink()
    return kind, tuple(files)


def fetch(
    *,
    url: str | None,
    file: Path | None,
    sha256: str | None,
    dest: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 60.0,
    allow_insecure_http: bool = False,
    ca_file: Path | None = None,
    model: str | None = None,
) -> Fetched:
    """Fetch exactly one of `url`/`file` into `dest`, verified against `sha256`.

    With `ca_file`, the server must present a certificate of that PEM bundle, and only of it.
    `model`: the file the server will load, relative to `dest`; the package is refused
    unless it holds that file and the file is a TFLite model.
    """
    if url is not None:
        urls.check_url(url, allow_insecure_http)  # before touching `dest`
    context = urls.load_ca_file(ca_file) if ca_file else None  # likewise
    # Start from an empty destination: a restarted init container must not
    # leave files of a previous attempt next to the new ones.
    dest.mkdir(parents=True, exist_ok=True)
    archive.clear_dir(dest)
    part = dest / _PART
    try:
        if url is not None:
            http = urls.opener(allow_insecure_http, context)
            cas = f"CA bundle {ca_file}" if ca_file else urls.SYSTEM_CAS
            digest, size = _download(url, part, max_bytes, timeout, http, cas)
        elif file is not None:
            digest, size = _copy(file, part, max_bytes)
        else:
            raise FetchError("one of --url or --file is required")
        verify(digest, sha256, url or str(file))
        kind, files = _place(part, dest, source_name(url, file), max_bytes)
        if model is not None:
            check_model(dest, model)
    except BaseException:
        archive.clear_dir(dest)
        raise
    return Fetched(sha256=digest, size=size, kind=kind, files=files)
