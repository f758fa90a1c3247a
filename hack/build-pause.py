#!/usr/bin/env python3
"""Build the pod sandbox image localhost/pause:1 as an OCI archive, without a registry.

Every pod needs a sandbox ("pause") image, and the local cluster's containerd
cannot pull registry.k8s.io/pause. So hack/pause/main.go is built here as a
static binary and packed by hand into an OCI image layout tar that
`ctr -n k8s.io images import` accepts: no buildah, no daemon, nothing pulled.

The archive is cached under ${MLMODEL_CACHE:-~/.cache/mlmodel-operator}/images,
named by a hash of its inputs, so a warm run only checks it and prints its path.
The path is the last line on stdout; progress goes to stderr.

    hack/build-pause.py            # prints .../images/pause-<hash>.oci.tar
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAUSE_DIR = ROOT / "hack" / "pause"
INPUTS = (PAUSE_DIR / "main.go", PAUSE_DIR / "go.mod", Path(__file__).resolve())
IMAGE_NAME = "localhost/pause:1"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


def log(msg: str) -> None:
    """Progress goes to stderr: stdout carries only the archive path for callers."""
    print(f"build-pause: {msg}", file=sys.stderr)


def images_dir() -> Path:
    """The same cache root as hack/build-image.sh and hack/clusterkit use."""
    cache = os.environ.get("MLMODEL_CACHE") or str(Path.home() / ".cache" / "mlmodel-operator")
    return Path(cache) / "images"


def input_key() -> str:
    """Hash paths and contents of the inputs, so any edit gives a new archive name."""
    h = hashlib.sha256()
    for path in sorted(INPUTS):
        data = path.read_bytes()
        h.update(f"{path.relative_to(ROOT)}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:16]


def build_binary(workdir: Path) -> bytes:
    """Static (CGO_ENABLED=0), stripped and path-free, so it runs in an empty rootfs."""
    out = workdir / "pause"
    env = os.environ | {"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64"}
    cmd = ["go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", str(out), "."]
    log(" ".join(cmd))
    subprocess.run(cmd, cwd=PAUSE_DIR, env=env, check=True, stdout=sys.stderr)
    return out.read_bytes()


def tar_bytes(files: list[tuple[str, bytes, int]]) -> bytes:
    """A tar of (name, data, mode) with mtime 0 and root ownership: same input, same digest."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def descriptor(media_type: str, data: bytes) -> dict[str, object]:
    """An OCI content descriptor: what manifests and the index use to point at blobs."""
    return {
        "mediaType": media_type,
        "digest": f"sha256:{hashlib.sha256(data).hexdigest()}",
        "size": len(data),
    }


def canonical(obj: object) -> bytes:
    """Sorted, compact JSON, so the digests of config and manifest are stable."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def image_blobs(binary: bytes) -> tuple[dict[str, object], list[bytes]]:
    """The manifest's descriptor and the blobs (layer, config, manifest) of the image.

    The layer is uncompressed, so its digest is also its diff_id.
    """
    layer = tar_bytes([("pause", binary, 0o755)])
    layer_desc = descriptor(LAYER_TYPE, layer)
    config = canonical(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/pause"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
        }
    )
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": descriptor(CONFIG_TYPE, config),
            "layers": [layer_desc],
        }
    )
    return descriptor(MANIFEST_TYPE, manifest), [layer, config, manifest]


def layout_tar(binary: bytes) -> bytes:
    """The OCI image layout as a tar, named in the index the two ways importers read.

    containerd prefers io.containerd.image.name; without a name annotation
    `ctr images import` stores the content but creates no image.
    """
    manifest_desc, blobs = image_blobs(binary)
    manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    manifest_desc["annotations"] = {
        "io.containerd.image.name": IMAGE_NAME,
        "org.opencontainers.image.ref.name": IMAGE_NAME,
    }
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [manifest_desc]}
    files = [
        ("oci-layout", canonical({"imageLayoutVersion": "1.0.0"}), 0o644),
        ("index.json", canonical(index), 0o644),
    ]
    files += [(f"blobs/sha256/{hashlib.sha256(b).hexdigest()}", b, 0o644) for b in blobs]
    return tar_bytes(files)


def member_bytes(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    """The contents of one regular file in a tar (extractfile gives None for others)."""
    f = tar.extractfile(info)
    if f is None:
        raise ValueError(f"{info.name} is not a regular file")
    return f.read()


def read_members(path: Path) -> dict[str, bytes]:
    """All regular files of an archive by name; tarfile raises if the tar is malformed."""
    with tarfile.open(path) as tar:
        return {m.name: member_bytes(tar, m) for m in tar.getmembers() if m.isfile()}


def blob(members: dict[str, bytes], desc: dict[str, object]) -> bytes:
    """A blob named by a descriptor, checked against its digest and size."""
    digest = str(desc["digest"])
    data = members[f"blobs/sha256/{digest.removeprefix('sha256:')}"]
    if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest or len(data) != desc["size"]:
        raise ValueError(f"blob {digest} does not match its descriptor")
    return data


def verify(path: Path) -> None:
    """Walk index -> manifest -> config and layer, so a bad cached archive is never handed out."""
    members = read_members(path)
    if json.loads(members["oci-layout"]) != {"imageLayoutVersion": "1.0.0"}:
        raise ValueError("bad oci-layout")
    (entry,) = json.loads(members["index.json"])["manifests"]
    if entry["annotations"].get("io.containerd.image.name") != IMAGE_NAME:
        raise ValueError(f"index names {entry['annotations']}, not {IMAGE_NAME}")
    manifest = json.loads(blob(members, entry))
    config = json.loads(blob(members, manifest["config"]))
    (layer_desc,) = manifest["layers"]
    if config["rootfs"]["diff_ids"] != [layer_desc["digest"]] or config["config"]["Entrypoint"] != ["/pause"]:
        raise ValueError("config does not match the layer")
    with tarfile.open(fileobj=io.BytesIO(blob(members, layer_desc))) as layer:
        info = layer.getmember("pause")
        head = member_bytes(layer, info)[:4]
    if info.mode != 0o755 or info.uid != 0 or head != b"\x7fELF":
        raise ValueError("layer lacks an executable ELF /pause")


def write_archive(path: Path) -> None:
    """Build and write via a .part file and rename, so readers never see half an archive."""
    with tempfile.TemporaryDirectory() as tmp:
        data = layout_tar(build_binary(Path(tmp)))
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    verify(part)
    part.replace(path)
    log(f"wrote {path} ({len(data)} bytes)")


def prune(keep: Path) -> None:
    """Drop archives from older inputs: only the current one is ever used."""
    for old in keep.parent.glob("pause-*.oci.tar"):
        if old != keep:
            old.unlink()
            log(f"removed older {old}")


def main() -> int:
    """Reuse the cached archive for these inputs, or build it; print its path last."""
    path = images_dir() / f"pause-{input_key()}.oci.tar"
    if path.is_file() and path.stat().st_size > 0:
        verify(path)
        log(f"{path} is up to date")
    else:
        write_archive(path)
        prune(path)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
