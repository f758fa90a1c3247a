"""Safe extraction refuses everything that could escape or exhaust the destination."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from mlmodel_fetch.archive import extract_tar, extract_zip, safe_member_path
from mlmodel_fetch.errors import FetchError


def make_tar(path: Path, members: list[tuple[str, bytes | None, bytes]]) -> Path:
    """members: (name, data or None for a dir, typeflag)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = "/etc/passwd"
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def test_tar_regular_files_are_extracted(tmp_path: Path) -> None:
    arc = make_tar(
        tmp_path / "a.tar.gz",
        [
            ("pkg", None, tarfile.DIRTYPE),
            ("pkg/model.tflite", b"abc", tarfile.REGTYPE),
            ("pkg/labels.txt", b"a\nb\n", tarfile.REGTYPE),
        ],
    )
    dest = tmp_path / "out"
    dest.mkdir()
    files = extract_tar(arc, dest, 1000)
    assert (dest / "pkg/model.tflite").read_bytes() == b"abc"
    assert len(files) == 2


@pytest.mark.parametrize(
    "name, why",
    [
        ("../evil", "traversal"),
        ("a/../../evil", "traversal"),
        ("/etc/evil", "absolute"),
    ],
)
def test_tar_refuses_escaping_names(tmp_path: Path, name: str, why: str) -> None:
    arc = make_tar(tmp_path / "a.tar.gz", [(name, b"x", tarfile.REGTYPE)])
    with pytest.raises(FetchError, match=why):
        extract_tar(arc, tmp_path / "out", 1000)
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_refuses_links(tmp_path: Path, kind: bytes) -> None:
    arc = make_tar(tmp_path / "a.tar.gz", [("link", None, kind)])
    with pytest.raises(FetchError, match="links are refused"):
        extract_tar(arc, tmp_path / "out", 1000)


def test_tar_refuses_devices(tmp_path: Path) -> None:
    arc = make_tar(tmp_path / "a.tar.gz", [("fifo", None, tarfile.FIFOTYPE)])
    with pytest.raises(FetchError, match="not a regular file"):
        extract_tar(arc, tmp_path / "out", 1000)


def test_tar_refuses_oversize(tmp_path: Path) -> None:
    arc = make_tar(
        tmp_path / "a.tar.gz",
        [
            ("a", b"x" * 600, tarfile.REGTYPE),
            ("b", b"x" * 600, tarfile.REGTYPE),
        ],
    )
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FetchError, match="more than 1000 bytes"):
        extract_tar(arc, out, 1000)


def make_zip(path: Path, members: list[tuple[str, bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_zip_regular_files_are_extracted(tmp_path: Path) -> None:
    arc = make_zip(tmp_path / "a.zip", [("m/model.tflite", b"abc", stat.S_IFREG | 0o644)])
    out = tmp_path / "out"
    out.mkdir()
    extract_zip(arc, out, 100)
    assert (out / "m/model.tflite").read_bytes() == b"abc"


@pytest.mark.parametrize(
    "name, mode, why",
    [
        ("../evil", stat.S_IFREG | 0o644, "traversal"),
        ("/abs", stat.S_IFREG | 0o644, "absolute"),
        ("C:/win", stat.S_IFREG | 0o644, "absolute"),
        ("link", stat.S_IFLNK | 0o777, "links are refused"),
    ],
)
def test_zip_refuses_unsafe_members(tmp_path: Path, name: str, mode: int, why: str) -> None:
    arc = make_zip(tmp_path / "a.zip", [(name, b"/etc/passwd", mode)])
    with pytest.raises(FetchError, match=why):
        extract_zip(arc, tmp_path / "out", 100)


def test_zip_bomb_is_capped_while_streaming(tmp_path: Path) -> None:
    arc = make_zip(tmp_path / "a.zip", [("big", b"\0" * 100_000, stat.S_IFREG | 0o644)])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FetchError, match="more than 1000 bytes"):
        extract_zip(arc, out, 1000)


def test_safe_member_path_stays_inside(tmp_path: Path) -> None:
    assert safe_member_path(tmp_path, "a/b.txt") == (tmp_path / "a/b.txt").resolve()
