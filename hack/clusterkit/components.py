"""The command lines of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.

Pure functions from paths and ports to argv (and config), so every flag of the control plane
and the reason for it reads in one place; LocalCluster only spawns and waits.
`ports` maps the names in PORT_NAMES to the loopback ports picked at `up`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .common import KWOK_ANNOTATION, POD_CIDR, SERVICE_CIDR
from .nodeconfig import apiserver_kubelet_flags

# Every port a component listens on; picked once at `up` and kept across restarts.
PORT_NAMES = (
    "etcd",
    "etcd-peer",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kubelet-healthz",
    "kube-proxy-healthz",
    "kube-proxy-metrics",
    "metrics-server",
)
Ports = Mapping[str, int]


def etcd_client_url(ports: Ports) -> str:
    return f"http://127.0.0.1:{ports['etcd']}"


def etcd_argv(bin_dir: Path, data_dir: Path, ports: Ports) -> list[str]:
    """Single-member etcd without fsync: the data is thrown away anyway, and fsync is slow."""
    client = etcd_client_url(ports)
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    return [
        str(bin_dir / "etcd"), "--name=mlmodel", f"--data-dir={data_dir}",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=mlmodel={peer}", "--unsafe-no-fsync=true", "--log-level=warn",
    ]  # fmt: skip


def apiserver_argv(bin_dir: Path, pki: Path, ports: Ports, host: str = "127.0.0.1") -> list[str]:
    """RBAC, default admission (ServiceAccount, PodSecurity) and the aggregation layer.

    `host` is where it binds and what it advertises: loopback without a real node; with one,
    the node's address, so the `kubernetes` Service has an endpoint pods can reach.
    """
    # A loopback address is not a valid Endpoints address; then nothing runs in-cluster. With a
    # real node, aggregated APIs (metrics-server) are reached at their endpoints' addresses, not
    # through their Service's ClusterIP: the apiserver then does not depend on kube-proxy's rules.
    loopback = host.startswith("127.")
    reconciler = ["--endpoint-reconciler-type=none"] if loopback else ["--enable-aggregator-routing=true"]
    return [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers={etcd_client_url(ports)}",
        f"--bind-address={host}", f"--advertise-address={host}", *reconciler,
        *apiserver_kubelet_flags(pki),
        f"--secure-port={ports['kube-apiserver']}", f"--cert-dir={pki}",
        f"--tls-cert-file={pki}/apiserver.crt", f"--tls-private-key-file={pki}/apiserver.key",
        f"--client-ca-file={pki}/ca.crt",
        "--authorization-mode=Node,RBAC",
        # Defaults already include ServiceAccount and PodSecurity; add NodeRestriction.
        "--enable-admission-plugins=NodeRestriction",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki}/sa.pub",
        f"--service-account-signing-key-file={pki}/sa.key",
        # Privileged pods must be refused by PodSecurity, not by this global switch.
        "--allow-privileged=true",
        "--profiling=false",
        f"--requestheader-client-ca-file={pki}/front-proxy-ca.crt",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki}/front-proxy-client.crt",
        f"--proxy-client-key-file={pki}/front-proxy-client.key",
    ]  # fmt: skip


def controller_manager_argv(
    bin_dir: Path, pki: Path, kubeconfigs: Path, flexvolume: Path, ports: Ports
) -> list[str]:
    """All controllers, no leader election, and client limits high enough for 1000 pods."""
    kc = kubeconfigs / "kube-controller-manager"
    return [
        str(bin_dir / "kube-controller-manager"), f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1", f"--secure-port={ports['kube-controller-manager']}",
        "--controllers=*", "--leader-elect=false", "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki}/sa.key", f"--root-ca-file={pki}/ca.crt",
        f"--cluster-signing-cert-file={pki}/ca.crt",
        f"--cluster-signing-key-file={pki}/ca.key",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # Otherwise it creates /usr/libexec/kubernetes/... on the host.
        f"--flex-volume-plugin-dir={flexvolume}",
        # Defaults (20 qps) would take a minute to create 1000 pods.
        "--kube-api-qps=200", "--kube-api-burst=400",
        "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
        "--concurrent-gc-syncs=40",
    ]  # fmt: skip


def scheduler_config(kubeconfigs: Path) -> dict[str, Any]:
    """KubeSchedulerConfiguration with client qps/burst raised like the controller-manager's."""
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfigs / "kube-scheduler"),
                             "qps": 200, "burst": 400},
        "leaderElection": {"leaderElect": False},
    }  # fmt: skip


def scheduler_argv(bin_dir: Path, kubeconfigs: Path, config: Path, ports: Ports) -> list[str]:
    """The scheduler with its config file (see scheduler_config) and no leader election."""
    return [
        str(bin_dir / "kube-scheduler"), f"--config={config}",
        f"--authentication-kubeconfig={kubeconfigs}/kube-scheduler",
        f"--authorization-kubeconfig={kubeconfigs}/kube-scheduler",
        "--bind-address=127.0.0.1", f"--secure-port={ports['kube-scheduler']}",
        "--leader-elect=false",
    ]  # fmt: skip


def kwok_argv(bin_dir: Path, kubeconfigs: Path) -> list[str]:
    """kwok adopting only our annotated fake nodes (see nodes.py), with node leases."""
    return [
        str(bin_dir / "kwok"), f"--kubeconfig={kubeconfigs}/kwok",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
        f"--cidr={POD_CIDR}", "--node-ip=10.0.0.1",
        # Node leases: without them kwok heartbeats only every ~60 s, past the
        # controller-manager's 50 s grace, and nodes flap NotReady every minute.
        "--node-lease-duration-seconds=40",
    ]  # fmt: skip


def kwok_env(workdir: Path) -> dict[str, str]:
    """KWOK_WORKDIR keeps a developer's ~/.kwok/kwok.yaml (custom stages) out of the tests."""
    return {"KWOK_WORKDIR": str(workdir)}
