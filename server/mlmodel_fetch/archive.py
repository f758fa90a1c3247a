"""Safe extraction of `.tar.gz` and `.zip` model packages.

Archives come from URLs and ConfigMaps the operator does not control, so every
member is checked before a byte is written: no absolute names, no `..`, no
links or device files, and a cap on the total unpacked size that is enforced
while streaming (headers can lie about sizes, zip bombs do).
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from mlmodel_fetch import errors
from mlmodel_fetch.errors import FetchError

MAX_MEMBERS = 10_000
_CHUNK = 1 << 20


def safe_member_path(dest: Path, name: str) -> Path:
    """Map an archive member name to a path inside `dest`, or refuse it.

    Checked on the name itself (not only on the resolved path) so that the
    error message says which member was unsafe and why.
    """
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or name.startswith(("/", "\\")) or (pure.parts and ":" in pure.parts[0]):
        raise FetchError(f"unsafe archive member {name!r}: absolute path", errors.INVALID_ARCHIVE)
    if ".." in pure.parts:
        raise FetchError(f"unsafe archive member {name!r}: path traversal ('..')", errors.INVALID_ARCHIVE)
    target = (dest / pure).resolve()
    if target != dest.resolve() and dest.resolve() not in target.parents:
        raise FetchError(f"unsafe archive member {name!r}: escapes the destination", errors.INVALID_ARCHIVE)
    return target


class _Budget:
    """Counts unpacked bytes across all members against one cap."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0

    def expect(self, n: int, name: str) -> None:
        """Refuse early when a header already announces too much."""
        if self.used + n > self.max_bytes:
            raise FetchError(
                f"archive unpacks to more than {self.max_bytes} bytes (at member {name!r})", errors.TOO_LARGE
            )

    def take(self, n: int, name: str) -> None:
        self.used += n
        if self.used > self.max_bytes:
            raise FetchError(
                f"archive unpacks to more than {self.max_bytes} bytes (at member {name!r})", errors.TOO_LARGE
            )


def _copy_capped(src: IO[bytes], target: Path, budget: _Budget, name: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        while chunk := src.read(_CHUNK):
            budget.take(len(chunk), name)
            out.write(chunk)


def _tar_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for count, member in enumerate(tar, start=1):
        if count > MAX_MEMBERS:
            raise FetchError(f"archive has more than {MAX_MEMBERS} members", errors.INVALID_ARCHIVE)
        yield member


def extract_tar(archive: Path, dest: Path, max_bytes: int) -> list[Path]:
    """Unpack a (gzip-compressed) tar into `dest`; only regular files and directories."""
    budget, written = _Budget(max_bytes), []
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in _tar_members(tar):
                target = safe_member_path(dest, member.name)
                if member.issym() or member.islnk():
                    raise FetchError(
                        f"unsafe archive member {member.name!r}: links are refused", errors.INVALID_ARCHIVE
                    )
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise FetchError(
                        f"unsafe archive member {member.name!r}: not a regular file", errors.INVALID_ARCHIVE
                    )
                budget.expect(member.size, member.name)
                src = tar.extractfile(member)
                assert src is not None  # regular files always have a stream
                _copy_capped(src, target, budget, member.name)
                written.append(target)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FetchError(f"cannot read tar archive: {exc}", errors.INVALID_ARCHIVE) from exc
    return written


def _zip_is_link(info: zipfile.ZipInfo) -> bool:
    """Unix symlinks in zips hide in the high 16 bits of external_attr."""
    return stat.S_ISLNK(info.external_attr >> 16)


def extract_zip(archive: Path, dest: Path, max_bytes: int) -> list[Path]:
    """Unpack a zip into `dest`; only regular files and directories."""
    budget, written = _Budget(max_bytes), []
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise FetchError(f"archive has more than {MAX_MEMBERS} members", errors.INVALID_ARCHIVE)
            for info in infos:
                target = safe_member_path(dest, info.filename)
                if _zip_is_link(info):
                    raise FetchError(
                        f"unsafe archive member {info.filename!r}: links are refused", errors.INVALID_ARCHIVE
                    )
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                with zf.open(info) as src:
                    _copy_capped(src, target, budget, info.filename)
                written.append(target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise FetchError(f"cannot read zip archive: {exc}", errors.INVALID_ARCHIVE) from exc
    return written


def clear_dir(dest: Path) -> None:
    """Empty `dest` so a restarted init container never mixes two versions."""
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
