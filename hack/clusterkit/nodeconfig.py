"""The real node's configuration: containerd, CNI, kubelet and kube-proxy, as pure builders.

Why a real node beside kwok: kwok makes pods "Ready" without running anything, so nothing
about serving (fetch, readiness, rollout, failures) is proven there. This node runs our image
under a real kubelet, containerd and runc; kwok nodes stay for scale work.

Every builder here maps a `NodeLayout` (paths and ports of one cluster directory) to a config
file or an argv, so each setting and the reason for it reads in one place; hostsetup.py does
the I/O (links, sysctls, cgroups, teardown) and LocalCluster spawns the processes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import NODE_IP, NODE_NAME, REAL_POD_CIDR, REAL_POD_GATEWAY

CNI_BRIDGE = "mlm-cni0"  # the pods' bridge; its gateway address is reachable from pods
CNI_NETWORK = "mlmodel"
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
CGROUP_ROOT = "mlmodel-node"  # kubelet's cgroupRoot, created in every v1 hierarchy beforehand
PAUSE_IMAGE = "localhost/pause:1"  # built locally (hack/build-pause.py): nothing can be pulled
REAL_NODE_LABEL = "mlmodel.dev/real-node"
# The part of the cluster CIDR kube-proxy treats as pod traffic (no masquerade inside it).
CLUSTER_CIDR = "10.244.0.0/16"


@dataclass(frozen=True)
class NodeLayout:
    """Where the real node of the cluster rooted at `root` keeps its state, and its ports."""

    root: Path
    pki: Path
    kubeconfigs: Path
    kubelet_port: int
    kubelet_healthz_port: int
    proxy_healthz_port: int
    proxy_metrics_port: int

    @property
    def containerd_dir(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_dir / "containerd.sock"

    @property
    def cri_endpoint(self) -> str:
        return f"unix://{self.containerd_socket}"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"


def containerd_config(layout: NodeLayout) -> str:
    """containerd 1.6 with its own root, state and socket, CRI on runc, CNI from Debian.

    restrict_oom_score_adj: pod sandboxes ask for oom_score_adj -998, which needs
    CAP_SYS_RESOURCE; without it runc fails with "can't get final child's PID from pipe".
    """
    d = layout.containerd_dir
    return "\n".join([
        "version = 2",
        f'root = "{d}/root"',
        f'state = "{d}/state"',
        "disabled_plugins = [\"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.btrfs\",",
        "  \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\",",
        "  \"io.containerd.tracing.processor.v1.otlp\", \"io.containerd.internal.v1.tracing\"]",
        "[grpc]",
        f'  address = "{layout.containerd_socket}"',
        "[ttrpc]",
        f'  address = "{d}/containerd.sock.ttrpc"',
        "[debug]",
        f'  address = "{d}/debug.sock"',
        '  level = "warn"',
        "[plugins.\"io.containerd.internal.v1.opt\"]",
        f'  path = "{d}/opt"',
        "[plugins.\"io.containerd.grpc.v1.cri\"]",
        f'  sandbox_image = "{PAUSE_IMAGE}"',
        "  restrict_oom_score_adj = true",
        "  enable_selinux = false",
        "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]",
        '    snapshotter = "overlayfs"',
        '    default_runtime_name = "runc"',
        "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]",
        '      runtime_type = "io.containerd.runc.v2"',
        "  [plugins.\"io.containerd.grpc.v1.cri\".cni]",
        f'    bin_dir = "{CNI_BIN_DIR}"',
        f'    conf_dir = "{layout.cni_conf_dir}"',
        "    max_conf_num = 1",
        "",
    ])  # fmt: skip


def containerd_argv(layout: NodeLayout) -> list[str]:
    return ["containerd", f"--config={layout.containerd_dir}/config.toml"]


def cni_conflist(layout: NodeLayout) -> dict[str, Any]:
    """A bridge with the pods' gateway (masquerading to the outside), plus portmap.

    host-local keeps its leases in the cluster directory, not /var/lib/cni, so `down`
    removes them with everything else.
    """
    ipam = {"type": "host-local", "dataDir": str(layout.cni_ipam_dir),
            "ranges": [[{"subnet": REAL_POD_CIDR, "gateway": REAL_POD_GATEWAY}]],
            "routes": [{"dst": "0.0.0.0/0"}]}  # fmt: skip
    bridge = {"type": "bridge", "bridge": CNI_BRIDGE, "isGateway": True, "ipMasq": True,
              "hairpinMode": True, "ipam": ipam}  # fmt: skip
    portmap = {"type": "portmap", "capabilities": {"portMappings": True}}
    return {"cniVersion": "1.0.0", "name": CNI_NETWORK, "plugins": [bridge, portmap]}


def cni_conflist_text(layout: NodeLayout) -> str:
    return json.dumps(cni_conflist(layout), indent=2) + "\n"


def kubelet_config(layout: NodeLayout) -> dict[str, Any]:
    """A kubelet secured like a real cluster's, adapted to this sandbox.

    Security: no anonymous access, webhook authentication and authorization (the apiserver
    decides who may read logs or exec), client certificates checked against the cluster CA,
    and a serving certificate the cluster CA signed. Sandbox: cgroups v1 (1.35 refuses them
    unless failCgroupV1 is false), the cgroupfs driver (no systemd), swap tolerated, no
    node-allocatable enforcement and relaxed eviction (the eviction manager cannot read the
    root filesystem's stats here).
    """
    pki = layout.pki
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": layout.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.kubelet_healthz_port,
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": layout.cri_endpoint,
        "imageServiceEndpoint": layout.cri_endpoint,
        "enforceNodeAllocatable": [],
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "podLogsDir": str(layout.kubelet_dir / "pod-logs"),
        "volumePluginDir": str(layout.kubelet_dir / "volume-plugins"),
        "resolvConf": "/etc/resolv.conf",
        "serializeImagePulls": False,
        "maxPods": 110,
        "shutdownGracePeriod": "0s",
    }  # fmt: skip


def kubelet_argv(bin_dir: Path, layout: NodeLayout) -> list[str]:
    """The node registers itself (client certificate system:node:<name>) with a label that
    says it is real, so workloads can ask for it (kwok nodes carry type=kwok)."""
    return [
        str(bin_dir / "kubelet"), f"--config={layout.kubelet_dir}/config.yaml",
        f"--kubeconfig={layout.kubeconfigs}/kubelet", f"--root-dir={layout.kubelet_dir}/root",
        f"--cert-dir={layout.kubelet_dir}/pki", f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}", f"--node-labels={REAL_NODE_LABEL}=true",
        "--v=1",
    ]  # fmt: skip


def kube_proxy_config(layout: NodeLayout) -> dict[str, Any]:
    """iptables mode (nftables did not program rules here), no conntrack sysctl writes.

    The conntrack settings of zero leave the kernel's values alone: writing them needs
    privileges this sandbox may not grant, and a test cluster does not need them tuned.
    """
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.kubeconfigs / "kube-proxy")},
        "mode": "iptables",
        "clusterCIDR": CLUSTER_CIDR,
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{layout.proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{layout.proxy_metrics_port}",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                      "tcpCloseWaitTimeout": "0s"},
        "iptables": {"localhostNodePorts": False},
    }  # fmt: skip


def kube_proxy_argv(bin_dir: Path, layout: NodeLayout) -> list[str]:
    return [str(bin_dir / "kube-proxy"), f"--config={layout.root}/kube-proxy.yaml"]


def kube_proxy_cleanup_argv(bin_dir: Path) -> list[str]:
    """kube-proxy removes every rule it ever programmed (iptables, ipvs and nftables)."""
    return [str(bin_dir / "kube-proxy"), "--cleanup"]


def crictl_argv(bin_dir: Path, layout: NodeLayout, *args: str) -> list[str]:
    return [str(bin_dir / "crictl"), f"--runtime-endpoint={layout.cri_endpoint}",
            f"--image-endpoint={layout.cri_endpoint}", "--timeout=20s", *args]  # fmt: skip


def ctr_argv(layout: NodeLayout, *args: str) -> list[str]:
    return ["ctr", f"--address={layout.containerd_socket}", "--namespace=k8s.io", *args]


def apiserver_kubelet_flags(pki: Path) -> list[str]:
    """How the apiserver reaches kubelets: by InternalIP (there is no DNS for node names),
    with a client certificate, verifying the kubelet's serving certificate."""
    return [
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--kubelet-client-certificate={pki}/apiserver-kubelet-client.crt",
        f"--kubelet-client-key={pki}/apiserver-kubelet-client.key",
        f"--kubelet-certificate-authority={pki}/ca.crt",
    ]
