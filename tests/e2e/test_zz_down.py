"""Last in the tier (pytest collects files by name): `down` leaves nothing on the host, and
`up` on a machine that lacks something fails in one line naming it.

Why here and not in a fixture: only one real node can run per machine, so these run after
every other e2e test, on the session's cluster, and stop it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcluster import LocalCluster

REPO = Path(__file__).resolve().parents[2]


def test_up_without_runc_fails_in_one_line_naming_it(real_cluster: LocalCluster, tmp_path: Path) -> None:
    """Tools the node needs are checked before anything starts; PATH here lacks runc."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("containerd", "ctr", "iptables", "ip", "openssl"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir), "MLMODEL_K8S_BIN": str(real_cluster.bin_dir),
           "MLMODEL_IMAGE_ARCHIVE": "none"}  # fmt: skip
    up = [sys.executable, str(REPO / "hack" / "localcluster.py"), "up", "--dir", str(tmp_path / "c")]
    proc = subprocess.run(up, env=env, capture_output=True, text=True, timeout=120)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("localcluster: error:")]
    assert proc.returncode == 1, proc.stderr
    assert len(errors) == 1 and "runc" in errors[0] and "install-node-deps.sh" in errors[0], proc.stderr


def test_down_leaves_nothing_behind(real_cluster: LocalCluster) -> None:
    """No process, container, shim, mount, netns, link, iptables chain or cgroup of ours."""
    if real_cluster.attached:
        pytest.skip("an attached cluster (MLMODEL_E2E_KUBECONFIG) is not ours to stop")
    assert real_cluster.leftovers(), "a running real node should show up as leftovers"
    real_cluster.stop()
    assert real_cluster.leftovers() == []
