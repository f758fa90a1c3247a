"""Caps that the archive tests do not cover: the number of members, and a download whose
server announces one size and sends more (the cap counts bytes, not headers)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from mlmodel_fetch import archive
from mlmodel_fetch.errors import FetchError


@pytest.fixture()
def few_members(monkeypatch: pytest.MonkeyPatch) -> int:
    """Lower the member cap so the test builds small archives."""
    monkeypatch.setattr(archive, "MAX_MEMBERS", 5)
    return 5


def test_tar_member_count_is_capped(tmp_path: Path, few_members: int) -> None:
    path = tmp_path / "many.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for i in range(few_members + 1):
            info = tarfile.TarInfo(f"f{i}")
            tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(FetchError, match="more than 5 members"):
        archive.extract_tar(path, tmp_path / "out", 1000)


def test_zip_member_count_is_capped(tmp_path: Path, few_members: int) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(few_members + 1):
            zf.writestr(f"f{i}", b"")
    with pytest.raises(FetchError, match="more than 5 members"):
        archive.extract_zip(path, tmp_path / "out", 1000)


def test_tar_header_lying_about_size_is_still_capped(tmp_path: Path) -> None:
    """Two members each under the cap, together over it: the budget is shared."""
    path = tmp_path / "two.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in ("a", "b"):
            info = tarfile.TarInfo(name)
            info.size = 600
            tar.addfile(info, io.BytesIO(b"x" * 600))
    with pytest.raises(FetchError, match="more than 1000 bytes"):
        archive.extract_tar(path, tmp_path / "out", 1000)
