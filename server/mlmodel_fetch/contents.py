"""What a package version holds, described alike by the operator (bytes in memory) and
`mlmodel fetch` (files on disk), so that both refuse the same packages in the same words.

A version is a bare file or a `.tar.gz`/`.zip` of a package directory. The operator keeps
the description in the ModelPackage's status, and checks a service's `model_path` and
`label_path` against it before any pod runs; the init container checks the model file
again on the bytes it actually placed.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

from mlmodel_fetch import errors
from mlmodel_fetch.errors import FetchError
from mlmodel_tflite.fbmodel import NOT_TFLITE, classifier_classes, is_tflite
from mlmodel_tflite.metadata import parse_labels

TFLITE, TEXT, OTHER = "TFLite", "Text", "Other"
# Larger files are not counted as labels files: the description must stay cheap to make.
TEXT_LIMIT = 1 << 20
# Files described per version, so that a ModelPackage's status stays small.
MAX_FILES = 64
_SHOWN = 8


@dataclass(frozen=True)
class FileFacts:
    """One file: whether it is a TFLite model (and a classifier of how many classes), or
    text (and how many labels it holds, counted as the server counts them)."""

    path: str
    format: str
    classes: int | None = None
    lines: int | None = None

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "format": self.format}
        if self.classes is not None:
            out["classes"] = self.classes
        if self.lines is not None:
            out["lines"] = self.lines
        return out

    @classmethod
    def from_status(cls, raw: dict[str, Any]) -> FileFacts:
        path, kind = str(raw.get("path", "")), str(raw.get("format", OTHER))
        return cls(path, kind, raw.get("classes"), raw.get("lines"))


@dataclass(frozen=True)
class Contents:
    """The files of one version; `complete` is False when the description stopped early,
    and then a file it does not list may still be there."""

    files: tuple[FileFacts, ...]
    complete: bool = True

    def find(self, path: str) -> FileFacts | None:
        wanted = member_path(path)
        return next((f for f in self.files if f.path == wanted), None)

    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"files": [f.to_status() for f in self.files]}
        if not self.complete:
            out["filesTruncated"] = True
        return out

    @classmethod
    def from_status(cls, entry: dict[str, Any]) -> Contents | None:
        """None when the entry does not describe the files (the operator could not read them)."""
        if "files" not in entry:
            return None
        files = tuple(FileFacts.from_status(f) for f in entry.get("files") or [])
        return cls(files, complete=not entry.get("filesTruncated"))


def member_path(name: str) -> str:
    """An archive member's or a model_path's name as the package directory holds it."""
    return str(PurePosixPath(name.replace("\\", "/")))


def describe(path: str, data: bytes, whole: bool = True) -> FileFacts:
    """Facts about one file from its bytes (only its format when `data` is just its head)."""
    if is_tflite(data):
        return FileFacts(path, TFLITE, classes=classifier_classes(data) if whole else None)
    if whole and len(data) <= TEXT_LIMIT:
        try:
            return FileFacts(path, TEXT, lines=len(parse_labels(data.decode("utf-8"))))
        except UnicodeDecodeError:
            pass
    return FileFacts(path, OTHER)


def kind_of(head: bytes, name: str) -> str:
    """tar.gz, zip, tflite or file: magic bytes first (URLs lie about extensions), then the name."""
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if is_tflite(head):
        return "tflite"
    lowered = name.lower()
    for kind, suffixes in (("tar.gz", (".tar.gz", ".tgz", ".tar")), ("zip", (".zip",))):
        if lowered.endswith(suffixes):
            return kind
    return "tflite" if lowered.endswith(".tflite") else "file"


def not_a_model(path: str) -> str:
    return f"model file {path} {NOT_TFLITE}"


def missing(what: str, path: str, present: Sequence[str]) -> str:
    """`model file x is not in the package (it holds a, b)`: what was there is the hint."""
    shown = ", ".join(present[:_SHOWN]) + (", ..." if len(present) > _SHOWN else "")
    return f"{what} {path} is not in the package (it holds {shown or 'nothing'})"


def bare_file_problem(name: str, head: bytes) -> str | None:
    """A bare file named `.tflite` that is not one: nothing could ever load it."""
    if kind_of(head, name) == "tflite" and not is_tflite(head):
        return f"{name} {NOT_TFLITE}"
    return None


def _members(data: bytes, kind: str) -> Iterator[tuple[str, IO[bytes]]]:
    """Regular files of an in-memory archive, as (name, stream)."""
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    with zf.open(info) as stream:
                        yield info.filename, stream
        return
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar:
            body = tar.extractfile(member) if member.isfile() else None
            if body is not None:
                yield member.name, body


def _describe_archive(data: bytes, kind: str, max_bytes: int) -> Contents:
    """At most MAX_FILES files and `max_bytes` unpacked bytes (archives can be bombs)."""
    files: list[FileFacts] = []
    budget = max_bytes
    try:
        for name, stream in _members(data, kind):
            if len(files) == MAX_FILES:
                return Contents(tuple(files), complete=False)
            body = stream.read(budget + 1)
            whole = len(body) <= budget
            files.append(describe(member_path(name), body, whole))
            if not whole:
                return Contents(tuple(files), complete=False)
            budget -= len(body)
    except (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as exc:
        raise FetchError(f"cannot read {kind} archive: {exc}", errors.INVALID_ARCHIVE) from exc
    return Contents(tuple(files))


def describe_bytes(data: bytes, name: str, max_bytes: int) -> Contents:
    """The files a version's bytes put in the package directory (`name`: the bare file's name).

    FetchError when the bytes are an archive that cannot be read.
    """
    kind = kind_of(data[:8], name)
    if kind in ("tar.gz", "zip"):
        return _describe_archive(data, kind, max_bytes)
    return Contents((describe(member_path(name), data),))
