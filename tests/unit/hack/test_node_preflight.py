"""`up` on a machine that lacks something fails in one line naming it and what to do."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "hack"))

from clusterkit import hostsetup, nodeconfig
from clusterkit.common import ClusterError


def test_missing_cgroup_hierarchy_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(hostsetup, "CGROUP_FS", tmp_path / "no-cgroups")
    with pytest.raises(ClusterError, match=r"cannot create cgroups under .*no-cgroups/cpu .*--no-real-node"):
        hostsetup._check_cgroups()


def test_missing_debian_packages_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostsetup.os, "geteuid", lambda: 0)
    monkeypatch.setattr(hostsetup.shutil, "which", lambda tool: None if tool in ("runc", "ctr") else "/bin/x")
    with pytest.raises(ClusterError) as err:
        hostsetup.preflight()
    message = str(err.value)
    assert "containerd, runc" in message and "hack/install-node-deps.sh" in message
    assert "\n" not in message


def test_not_root_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostsetup.os, "geteuid", lambda: 1000)
    with pytest.raises(ClusterError, match="needs root"):
        hostsetup.preflight()


def test_kubelet_is_secured_like_a_real_clusters(tmp_path: Path) -> None:
    layout = nodeconfig.NodeLayout(tmp_path, tmp_path / "pki", tmp_path / "kc", 1, 2, 3, 4)
    config = nodeconfig.kubelet_config(layout)
    assert config["authentication"]["anonymous"] == {"enabled": False}
    assert config["authentication"]["webhook"] == {"enabled": True}
    assert config["authorization"] == {"mode": "Webhook"}
    assert config["readOnlyPort"] == 0
    assert config["tlsCertFile"].endswith("kubelet-serving.crt")
