"""Package archives built in memory for the tests: files by name, in the order given, with
tarfile's and zipfile's default headers (mode 0644, mtime 0 in a tar). The tiers build the
packages they refuse (a model file missing, a text file named .tflite) and the ones they
serve with these, so `mlmodel fetch`, the operator and the pods read the same bytes."""

from __future__ import annotations

import io
import tarfile
import zipfile


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A .tar.gz of regular files, members in the dict's order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    """A .zip of regular files, members in the dict's order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()
