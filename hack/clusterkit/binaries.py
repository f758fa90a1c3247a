"""The Go-built binaries: hack/build-k8s.sh's bin directory, or MLMODEL_K8S_BIN."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

from .common import CACHE, COMPONENTS, HACK, ClusterError

BUILD_SCRIPT = HACK / "build-k8s.sh"


def build_binaries() -> Path:
    """Run hack/build-k8s.sh (instant once built) and return its bin directory.

    Why the lock: the script has none, and two test sessions starting at once must not both
    compile kube-apiserver. MLMODEL_K8S_BIN skips the script entirely (e.g. a prebuilt cache).
    """
    override = os.environ.get("MLMODEL_K8S_BIN")
    if override:
        return _checked_bin_dir(Path(override), "MLMODEL_K8S_BIN")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise ClusterError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}")
    return _checked_bin_dir(Path(lines[-1]), str(BUILD_SCRIPT))


def _checked_bin_dir(bin_dir: Path, source: str) -> Path:
    """Name the missing binary up front instead of failing later with a bare ENOENT."""
    missing = [c for c in (*COMPONENTS, "kubectl") if not os.access(bin_dir / c, os.X_OK)]
    if missing:
        raise ClusterError(f"{bin_dir} (from {source}) lacks {', '.join(missing)}")
    return bin_dir
