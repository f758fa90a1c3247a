"""The real node's footprint on the host: checks, links, sysctls, cgroups, and its removal.

Why one module: everything the node changes outside its cluster directory (a veth pair, the
pods' bridge, iptables chains, network namespaces, mounts, cgroups, two sysctls) is made and
unmade here, and `leftovers()` lists whatever is still there, so `down` can prove it is clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import procs
from .common import NODE_IP, NODE_LINK, NODE_LINK_PEER, ClusterError
from .nodeconfig import CGROUP_ROOT, CNI_BIN_DIR, CNI_BRIDGE, CNI_NETWORK, NodeLayout, crictl_argv

CGROUP_FS = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")
# Sysctls the node needs: forwarding for pod traffic, and bridged traffic through iptables
# so a pod reaching a Service that lands on a pod of the same bridge is DNATed.
SYSCTLS = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"}
CHAIN_PREFIXES = ("KUBE-", "CNI-")
# Host paths containerd, its shims and libcni create whatever their configuration says; the
# ones that did not exist before `up` are removed again (deepest first) once empty.
HOST_DIRS = tuple(Path(p) for p in (
    "/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc/k8s.io", "/run/containerd/runc",
    "/run/containerd", "/var/lib/cni/results", "/var/lib/cni", "/run/netns"))  # fmt: skip
CNI_CACHE = Path("/var/lib/cni/results")
NEEDED_TOOLS = {"containerd": "containerd", "runc": "runc", "ctr": "containerd",
                "iptables": "iptables", "ip": "iproute2"}  # fmt: skip
NEEDED_PLUGINS = ("bridge", "host-local", "portmap", "loopback")
INSTALL_HINT = "run hack/install-node-deps.sh (Debian packages), or `up --no-real-node` for kwok only"


def run(*argv: str, check: bool = True, timeout: float = 60) -> str:
    """Run a host tool; a failure becomes a ClusterError naming the command and its stderr."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise ClusterError(f"{' '.join(argv[:4])} failed: {err[-1] if err else proc.returncode}")
    return proc.stdout


# --- preflight -------------------------------------------------------------------------------


def preflight(owner: str | None = None) -> None:
    """Fail in one line, naming what is missing and what to do, before anything starts.

    `owner` is the directory of the cluster whose real node was last set up here, if any.
    """
    if os.geteuid() != 0:
        raise ClusterError("the real node needs root (kubelet, containerd, links, cgroups); "
                           "run as root or `up --no-real-node`")  # fmt: skip
    missing = sorted({pkg for tool, pkg in NEEDED_TOOLS.items() if not shutil.which(tool)})
    missing += ["containernetworking-plugins"] * any(not (CNI_BIN_DIR / p).is_file() for p in NEEDED_PLUGINS)
    if missing:
        raise ClusterError(f"the real node needs the Debian packages {', '.join(missing)}: {INSTALL_HINT}")
    _check_cgroups()
    _check_links(owner)
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise ClusterError("the kernel lacks overlayfs, which containerd's snapshotter needs")


def _check_cgroups() -> None:
    """cgroups v1 hierarchies must be writable: kubelet creates the pods' cgroups in them."""
    probe = CGROUP_FS / "cpu" / f"mlmodel-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise ClusterError(f"cannot create cgroups under {CGROUP_FS / 'cpu'} ({exc.strerror}): the real "
                           "node needs writable cgroup v1 hierarchies; `up --no-real-node` for kwok only"
                           ) from None  # fmt: skip


def _check_links(owner: str | None) -> None:
    """Bridges and veth pairs must be creatable (CAP_NET_ADMIN); one real node per machine."""
    if Path(f"/sys/class/net/{NODE_LINK}").exists():
        down = (
            f"python hack/localcluster.py down --dir {owner}" if owner else "localcluster.py down --dir DIR"
        )
        raise ClusterError(f"a real node is already set up on this machine (link {NODE_LINK}): "
                           f"`{down}` first, or `up --no-real-node`")  # fmt: skip
    probe = f"mlm-probe{os.getpid() % 10000}"
    proc = subprocess.run(["ip", "link", "add", probe, "type", "bridge"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"cannot create a bridge ({proc.stderr.strip()}): the real node needs "
                           "CAP_NET_ADMIN and bridge support; `up --no-real-node` for kwok only")  # fmt: skip
    run("ip", "link", "delete", probe)


# --- setting up ------------------------------------------------------------------------------


def setup(layout: NodeLayout) -> None:
    """The node's address, sysctls and cgroup root; what it replaced is saved for teardown."""
    state = {"sysctls": {k: _read_sysctl(k) for k in SYSCTLS}, "netns": sorted(_netns()),
             "dirs": [str(d) for d in HOST_DIRS if d.exists()]}  # fmt: skip
    (layout.root / "host-state.json").write_text(json.dumps(state, indent=2) + "\n")
    run("ip", "link", "add", NODE_LINK, "type", "veth", "peer", "name", NODE_LINK_PEER)
    run("ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_LINK)
    for link in (NODE_LINK, NODE_LINK_PEER):
        run("ip", "link", "set", link, "up")
    for key, value in SYSCTLS.items():
        _write_sysctl(key, value)
    for hierarchy in _hierarchies():
        _make_cgroup(hierarchy / CGROUP_ROOT)


def _read_sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys", key).read_text().strip()
    except OSError:
        return None


def _write_sysctl(key: str, value: str) -> None:
    """Missing sysctls (no br_netfilter) are tolerated; the rest must be writable."""
    path = Path("/proc/sys", key)
    if path.exists():
        path.write_text(value)


def _hierarchies() -> list[Path]:
    """The cgroup v1 hierarchies (cgroup2's `unified` is not kubelet's on this host)."""
    if not CGROUP_FS.is_dir():
        return []
    return sorted(p for p in CGROUP_FS.iterdir() if p.is_dir() and p.name != "unified")


def _make_cgroup(path: Path) -> None:
    """Create `path`; cpuset children start with empty cpus/mems, so copy the parent's."""
    path.mkdir(exist_ok=True)
    for name in ("cpuset.cpus", "cpuset.mems"):
        if (path / name).exists() and not (path / name).read_text().strip():
            (path / name).write_text((path.parent / name).read_text())


# --- tearing down ----------------------------------------------------------------------------


def teardown(
    layout: NodeLayout, bin_dir: Path, containerd_pids: list[int], marker: str, host_wide: bool
) -> None:
    """Remove the pods through CRI, stop containerd, then sweep what is left, in that order.

    Pods first, while containerd runs: the CNI plugins then undo their own namespaces,
    veths, iptables rules and IP leases. The sweep after it catches what a crash left; its
    host-wide part (links, chains, cgroups, sysctls) runs only when `host_wide`.
    """
    if containerd_pids and layout.containerd_socket.exists():
        subprocess.run(crictl_argv(bin_dir, layout, "rmp", "--all", "--force"),
                       capture_output=True, timeout=120, check=False)  # fmt: skip
    procs.terminate(containerd_pids, signal.SIGTERM, 10.0, [], "containerd")
    _kill_leftover_processes(marker)
    _unmount_under(layout.root)
    for sub in (layout.containerd_dir, layout.kubelet_dir):
        shutil.rmtree(sub, ignore_errors=True)
    if host_wide:
        _sweep_host(layout)


def _sweep_host(layout: NodeLayout) -> None:
    """What the node changed outside its directory, whoever created it (kubelet, CNI, us)."""
    _delete_netns(layout)
    _delete_links()
    _purge_chains()
    _remove_cgroups()
    _restore_sysctls(layout)
    _remove_host_files(layout)


def _kill_leftover_processes(marker: str) -> None:
    """Shims (their argv names our containerd socket) and anything in the pods' cgroups."""
    for _ in range(3):
        pids = set(_marked_processes(marker)) | set(_cgroup_processes())
        if not pids:
            return
        procs.signal_all(sorted(pids), signal.SIGKILL)
        time.sleep(0.3)


def _marked_processes(marker: str) -> list[int]:
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        pid = int(entry.name) if entry.name.isdigit() else me
        if pid != me and procs.alive(pid) and marker in procs.cmdline(pid):
            found.append(pid)
    return found


def _cgroup_dirs(hierarchy: Path) -> list[Path]:
    """Every cgroup below our root in `hierarchy`, deepest first."""
    root = hierarchy / CGROUP_ROOT
    if not root.is_dir():
        return []
    found = [Path(d) for d, _, _ in os.walk(root)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _cgroup_processes() -> list[int]:
    pids: set[int] = set()
    for hierarchy in _hierarchies():
        for cgroup in _cgroup_dirs(hierarchy):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (cgroup / "cgroup.procs").read_text().split())
    return sorted(pids)


def _mounts_under(root: Path) -> list[str]:
    """Mount points below `root` (and CNI's network namespaces), deepest first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(f"{root}/"):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def _unmount_under(root: Path) -> None:
    for point in _mounts_under(root):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)


def _netns() -> set[str]:
    return {p.name for p in NETNS_DIR.iterdir()} if NETNS_DIR.is_dir() else set()


def _our_netns(layout: NodeLayout) -> set[str]:
    """CNI namespaces that appeared after `up` (containerd names them cni-<uuid>)."""
    before = set(_saved(layout, "netns"))
    return {n for n in _netns() - before if n.startswith("cni-")}


def _delete_netns(layout: NodeLayout) -> None:
    for name in sorted(_our_netns(layout)):
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def _links() -> list[str]:
    """Our links: the node's veth pair, the pods' bridge and the veths enslaved to it."""
    names = [n for n in (NODE_LINK, NODE_LINK_PEER, CNI_BRIDGE) if Path(f"/sys/class/net/{n}").exists()]
    brif = Path(f"/sys/class/net/{CNI_BRIDGE}/brif")
    return names + (sorted(p.name for p in brif.iterdir()) if brif.is_dir() else [])


def _delete_links() -> None:
    for name in reversed(_links()):
        subprocess.run(["ip", "link", "delete", name], capture_output=True)


def _chains(tool: str) -> dict[str, list[str]]:
    """{table: [our chain names]} for iptables or ip6tables."""
    found: dict[str, list[str]] = {}
    for table in ("nat", "filter", "mangle"):
        out = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True).stdout
        chains = [ln.split()[1] for ln in out.splitlines() if ln.startswith("-N ")]
        ours = [c for c in chains if c.startswith(CHAIN_PREFIXES)]
        if ours:
            found[table] = ours
    return found


def _purge_chains() -> None:
    """Unhook, flush and delete every KUBE-*/CNI-* chain (kubelet, kube-proxy, CNI)."""
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(tool):
            continue
        for table, chains in _chains(tool).items():
            _unhook(tool, table)
            for chain in chains:
                subprocess.run([tool, "-w", "-t", table, "-F", chain], capture_output=True)
            for chain in chains:
                subprocess.run([tool, "-w", "-t", table, "-X", chain], capture_output=True)


def _unhook(tool: str, table: str) -> None:
    """Delete rules of the built-in chains that jump to one of our chains."""
    out = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        words = shlex.split(line)  # comments are quoted and hold spaces
        if words[:1] == ["-A"] and "-j" in words:
            target = words[words.index("-j") + 1]
            if target.startswith(CHAIN_PREFIXES) and not words[1].startswith(CHAIN_PREFIXES):
                subprocess.run([tool, "-w", "-t", table, "-D", *words[1:]], capture_output=True)


def _remove_cgroups() -> None:
    for hierarchy in _hierarchies():
        for cgroup in _cgroup_dirs(hierarchy):
            with contextlib.suppress(OSError):
                cgroup.rmdir()


def _restore_sysctls(layout: NodeLayout) -> None:
    try:
        saved = json.loads((layout.root / "host-state.json").read_text())["sysctls"]
    except (OSError, ValueError, KeyError):
        return
    for key, value in dict(saved).items():
        if value is not None:
            with contextlib.suppress(OSError):
                _write_sysctl(key, value)


def _saved(layout: NodeLayout, key: str) -> list[str]:
    try:
        return list(json.loads((layout.root / "host-state.json").read_text())[key])
    except (OSError, ValueError, KeyError):
        return []


def _cni_cache() -> list[Path]:
    """libcni's cached results of our network (it names them <network>-<container>-<ifname>)."""
    return sorted(CNI_CACHE.glob(f"{CNI_NETWORK}-*")) if CNI_CACHE.is_dir() else []


def _new_dirs(layout: NodeLayout) -> list[Path]:
    before = set(_saved(layout, "dirs"))
    return [d for d in HOST_DIRS if d.exists() and str(d) not in before]


def _remove_host_files(layout: NodeLayout) -> None:
    for path in _cni_cache():
        path.unlink(missing_ok=True)
    for directory in _new_dirs(layout):
        with contextlib.suppress(OSError):
            directory.rmdir()


# --- proof -----------------------------------------------------------------------------------


def leftovers(layout: NodeLayout, marker: str) -> list[str]:
    """Everything of the node still on the host; [] after a clean `down`."""
    found = [f"process {pid}: {procs.cmdline(pid)[:80]}" for pid in _marked_processes(marker)]
    found += [f"process {pid} in cgroup {CGROUP_ROOT}" for pid in _cgroup_processes()]
    found += [f"mount {p}" for p in _mounts_under(layout.root)]
    found += [f"network namespace {n}" for n in sorted(_our_netns(layout))]
    found += [f"link {n}" for n in _links()]
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool):
            found += [f"{tool} -t {t} chain {c}" for t, cs in _chains(tool).items() for c in cs]
    found += [f"cgroup {d}" for h in _hierarchies() for d in _cgroup_dirs(h)]
    found += [f"CNI cache {p}" for p in _cni_cache()]
    found += [f"directory {d}" for d in _new_dirs(layout)]
    return found
