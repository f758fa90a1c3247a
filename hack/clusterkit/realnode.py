"""The real node's lifecycle: containerd, images, kubelet and kube-proxy, started and stopped.

Why apart from LocalCluster: the control plane is plain processes on loopback, while the
node also changes the host (links, iptables, cgroups: hostsetup.py) and holds containers
that outlive their parents (shims). Keeping its order of operations here makes both ends
readable: `start` is preflight, host setup, containerd, images, kubelet, kube-proxy; `stop`
is kubelet and kube-proxy, then the pods through CRI, then the sweep.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import hostsetup, nodeconfig
from .common import CACHE, HACK, NODE_NAME, ClusterError, log
from .nodeconfig import NodeLayout
from .nodes import node_is_ready
from .supervisor import Supervisor

OWNER_FILE = Path("/run/mlmodel-operator-node.owner")  # which cluster dir holds the node
NODE_BINARIES = ("kubelet", "kube-proxy", "crictl", "metrics-server")
# Set to an OCI archive to import instead of building; "none" imports no product image.
IMAGE_ARCHIVE_ENV = "MLMODEL_IMAGE_ARCHIVE"


@dataclass
class RealNode:
    """One real node of the cluster whose processes `supervisor` keeps."""

    layout: NodeLayout
    bin_dir: Path
    supervisor: Supervisor
    wait: Callable[[str, Callable[[], Any]], Any]  # LocalCluster._wait: deadline + fail fast
    api: Callable[..., Any]  # LocalCluster.api
    orphan_dies: bool = False  # LocalCluster.die_with_parent

    # --- start ---------------------------------------------------------------------------
    def preflight(self) -> None:
        """Everything the node needs, checked before anything is built or started."""
        missing = [b for b in NODE_BINARIES if not os.access(self.bin_dir / b, os.X_OK)]
        if missing:
            raise ClusterError(f"{self.bin_dir} lacks {', '.join(missing)}: run hack/build-k8s.sh")
        owner = OWNER_FILE.read_text().strip() if OWNER_FILE.is_file() else None
        hostsetup.preflight(owner)

    def prepare_host(self) -> None:
        """Host setup; before the apiserver, which binds the node's address."""
        for sub in (self.layout.containerd_dir, self.layout.cni_conf_dir, self.layout.kubelet_dir):
            sub.mkdir(parents=True, exist_ok=True)
        hostsetup.setup(self.layout)
        OWNER_FILE.write_text(f"{self.layout.root}\n")

    def start(self, images: list[Path]) -> None:
        """containerd, the images, then kubelet until the node is Ready, then kube-proxy."""
        self._start_containerd()
        for archive in images:
            self._import(archive)
        self._start_kubelet()
        self._start_kube_proxy()

    def _start_containerd(self) -> None:
        layout = self.layout
        (layout.containerd_dir / "config.toml").write_text(nodeconfig.containerd_config(layout))
        (layout.cni_conf_dir / "10-mlmodel.conflist").write_text(nodeconfig.cni_conflist_text(layout))
        self.supervisor.spawn("containerd", nodeconfig.containerd_argv(layout), None, self.orphan_dies)
        self.wait("containerd's CRI", lambda: _ok(nodeconfig.crictl_argv(self.bin_dir, layout, "info")))

    def _import(self, archive: Path) -> None:
        """Load an OCI archive into the k8s.io namespace: pods find it without a registry."""
        argv = nodeconfig.ctr_argv(self.layout, "images", "import", "--all-platforms", str(archive))
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
        if proc.returncode != 0:
            raise ClusterError(f"importing {archive.name} into containerd: {proc.stderr.strip()[-300:]}")

    def _start_kubelet(self) -> None:
        layout = self.layout
        config = layout.kubelet_dir / "config.yaml"
        config.write_text(yaml.safe_dump(nodeconfig.kubelet_config(layout), sort_keys=False))
        argv = nodeconfig.kubelet_argv(self.bin_dir, layout)
        self.supervisor.spawn("kubelet", argv, None, self.orphan_dies)
        self.wait(f"node {NODE_NAME} Ready", self._node_ready)

    def _node_ready(self) -> bool:
        return node_is_ready(self.api("GET", f"/api/v1/nodes/{NODE_NAME}"))

    def _start_kube_proxy(self) -> None:
        layout = self.layout
        config = layout.root / "kube-proxy.yaml"
        config.write_text(yaml.safe_dump(nodeconfig.kube_proxy_config(layout), sort_keys=False))
        argv = nodeconfig.kube_proxy_argv(self.bin_dir, layout)
        self.supervisor.spawn("kube-proxy", argv, None, self.orphan_dies)
        url = f"http://127.0.0.1:{layout.proxy_healthz_port}/healthz"
        self.wait("kube-proxy /healthz", lambda: _http_ok(url))

    # --- stop ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Pods through CRI, containerd, then every trace on the host (hostsetup.teardown).

        The host-wide part (links, chains, cgroups, sysctls) only if this cluster set the node
        up: a cluster whose `up` failed its checks must not tear down another one's node.
        """
        pids = self.supervisor.members("containerd")
        owner = OWNER_FILE.read_text().strip() if OWNER_FILE.is_file() else None
        mine = owner == str(self.layout.root)
        hostsetup.teardown(self.layout, self.bin_dir, pids, self.supervisor.marker, host_wide=mine)
        self.supervisor.forget("containerd")
        if mine:
            OWNER_FILE.unlink()

    def leftovers(self) -> list[str]:
        return hostsetup.leftovers(self.layout, self.supervisor.marker)


def _ok(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True, check=False, timeout=30).returncode == 0


def _http_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)


# --- images ------------------------------------------------------------------------------------


def image_archives() -> list[Path]:
    """The pause image and the product image as OCI archives, built or taken from the cache.

    Both scripts key their archives by a hash of their inputs, so a warm run builds nothing.
    """
    archives = [_last_line([sys.executable, str(HACK / "build-pause.py")], "hack/build-pause.py")]
    override = os.environ.get(IMAGE_ARCHIVE_ENV)
    if override == "none":
        return archives
    if override:
        return [*archives, Path(override)]
    log("product image: hack/build-image.sh --oci-archive (cached by the hash of its inputs)")
    built = _last_line(["bash", str(HACK / "build-image.sh"), "--oci-archive"], "hack/build-image.sh")
    return [*archives, built]


def _last_line(argv: list[str], what: str) -> Path:
    """Run a build script (its progress goes to our stderr) and take its last stdout line."""
    CACHE.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not Path(lines[-1]).is_file():
        raise ClusterError(f"{what} failed (exit {proc.returncode}); see its output above")
    return Path(lines[-1])
