#!/usr/bin/env python3
"""A throwaway Kubernetes control plane on 127.0.0.1, built from Go modules.

Why: these machines have no container engine, so kind cannot run, yet the operator must be
tested against a real apiserver (admission, RBAC, garbage collection, PodSecurity). This runs
etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake nodes whose pods
turn Running and Ready without containers) as plain processes, each in its own process group.

CLI:
    python hack/localcluster.py up [--dir DIR] [--nodes N]
    python hack/localcluster.py down [--dir DIR]
    python hack/localcluster.py status [--dir DIR]
    python hack/localcluster.py restart COMPONENT [--kill] [--dir DIR]   # fault injection
    eval "$(python hack/localcluster.py env [--dir DIR])"

Python:
    cluster = LocalCluster(Path("/tmp/c"), nodes=2).start()
    cluster.kubectl("get", "nodes")
    cluster.restart("kube-apiserver")      # or stop_component() / start_component()
    cluster.stop()

Layout of DIR: kubeconfig (admin, system:masters), pki/, kubeconfigs/ (one per component),
etcd/ (data), logs/<component>.log, pids/<component>.pid, state.json (ports, bin dir).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import functools
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

HACK = Path(__file__).resolve().parent
BUILD_SCRIPT = HACK / "build-k8s.sh"
CACHE = Path(os.environ.get("MLMODEL_CACHE", Path.home() / ".cache" / "mlmodel-operator"))
DEFAULT_DIR = CACHE / "cluster"
# Start order.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# Stop order: clients first, etcd last; an apiserver whose etcd vanished first hangs ~10 s.
STOP_TIERS = (("kwok", "kube-scheduler", "kube-controller-manager"), ("kube-apiserver",), ("etcd",))
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_NODE_PREFIX = "kwok-node-"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.128.0.0/16"  # kwok hands out fake pod IPs from here; room for ~65k pods
# Large enough for ~1000 small pods on one node, so scheduling never becomes the bottleneck.
NODE_RESOURCES = {"cpu": "64", "memory": "256Gi", "pods": "1100"}
# Client certificates: (file stem, CN, O). Components get their own identities so RBAC's
# bootstrap bindings apply; kwok writes status of arbitrary nodes and pods, so it is a master.
CLIENTS = (
    ("admin", "mlmodel-admin", "system:masters"),
    ("kube-controller-manager", "system:kube-controller-manager", ""),
    ("kube-scheduler", "system:kube-scheduler", ""),
    ("kwok", "kwok-controller", "system:masters"),
)
T = TypeVar("T")


class ClusterError(RuntimeError):
    """A step of the control plane failed; the message is one line the CLI prints as is."""


def log(msg: str) -> None:
    """Progress goes to stderr so stdout stays machine-readable (e.g. for `env`)."""
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)


def wait_until(
    condition: Callable[[], T],
    *,
    what: str,
    timeout: float,
    interval: float = 0.5,
    check: Callable[[], None] | None = None,
) -> T:
    """Poll `condition` until it returns something truthy and return that.

    Why a helper: every readiness check in the control plane and in the tests is a poll with a
    deadline; `check` lets callers fail fast (e.g. a component died) instead of timing out.
    Exceptions from `condition` count as "not yet" so transient connection errors are retried.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if check is not None:
            check()
        result: Any = None
        try:
            result = condition()
        except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
            last_error = exc
        if result:
            return result
        if time.monotonic() >= deadline:
            hint = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{hint}")
        time.sleep(interval)


def free_ports(count: int) -> list[int]:
    """Ask the kernel for `count` distinct free loopback ports.

    Why: several clusters (a developer's and a test session's) may run side by side. All
    sockets stay open until every port is picked so the kernel cannot hand out one twice.
    """
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


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


# --- processes ---------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """Return (state, process group) of `pid`, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces
    return fields[0], int(fields[2])


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a zombie holds no ports or memory)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in "ZX"


def _cmdline(pid: int) -> str:
    """The argv of `pid` joined by spaces ('' if gone); used to prove a pid is still ours."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def group_members(pgid: int, marker: str) -> list[int]:
    """Live processes in process group `pgid` whose argv mentions `marker`.

    Why the marker: a pid file may outlive its process and the pid may be reused; every
    component's argv names a path inside the cluster dir, so only our processes match.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _proc_stat(pid)
        if stat and stat[1] == pgid and stat[0] not in "ZX" and marker in _cmdline(pid):
            found.append(pid)
    return found


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGKILL it when its parent dies.

    Why: a test session killed hard (SIGKILL, CI timeout) skips fixture teardown; without
    this its apiserver and etcd would linger. The CLI's `up` must not use it: it exits at once.
    """
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    """Send `sig` to each pid, ignoring ones that already exited."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


# --- certificates ------------------------------------------------------------------------


def _openssl(*args: str) -> None:
    """Run the openssl CLI quietly; it ships with the OS, so no Python crypto dependency."""
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        raise ClusterError(f"openssl {args[0]} failed: {err[-1] if err else proc.returncode}")


def make_ca(pki: Path, stem: str = "ca") -> None:
    """Self-signed CA `stem` that signs serving and client certs (EC keys are fast)."""
    _openssl(
        "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-keyout", str(pki / f"{stem}.key"), "-out",
        str(pki / f"{stem}.crt"), "-days", "3650", "-subj", f"/CN=mlmodel-local-{stem}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )  # fmt: skip


def make_cert(pki: Path, stem: str, subject: str, extensions: list[str], ca: str = "ca") -> None:
    """Key + certificate `stem` signed by CA `ca`; `extensions` are openssl extfile lines."""
    key, csr, crt = (pki / f"{stem}.{ext}" for ext in ("key", "csr", "crt"))
    extfile = pki / f"{stem}.ext"
    extfile.write_text("\n".join(["basicConstraints=critical,CA:FALSE", *extensions]) + "\n")
    _openssl(
        "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", str(key), "-out", str(csr), "-subj", subject,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(pki / f"{ca}.crt"), "-CAkey",
        str(pki / f"{ca}.key"), "-CAcreateserial", "-CAserial", str(pki / f"{ca}.srl"), "-out",
        str(crt), "-days", "3650", "-extfile", str(extfile),
    )  # fmt: skip
    csr.unlink()
    extfile.unlink()


def make_pki(pki: Path) -> None:
    """Everything the apiserver needs: CA, serving cert, SA signing keys, client certs."""
    pki.mkdir(parents=True, exist_ok=True)
    make_ca(pki)
    sans = ["IP:127.0.0.1", f"IP:{SERVICE_IP}", "DNS:localhost", "DNS:kubernetes",
            "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local"]  # fmt: skip
    make_cert(
        pki, "apiserver", "/CN=kube-apiserver",
        ["keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth",
         "subjectAltName=" + ",".join(sans)],
    )  # fmt: skip
    client_ext = ["keyUsage=critical,digitalSignature,keyEncipherment",
                  "extendedKeyUsage=clientAuth"]  # fmt: skip
    for stem, cn, org in CLIENTS:
        make_cert(pki, stem, (f"/O={org}" if org else "") + f"/CN={cn}", client_ext)
    # Front proxy (aggregation layer): a CA of its own, else any client cert could assert
    # identities through request headers. Without it every component logs CA-bundle errors.
    make_ca(pki, "front-proxy-ca")
    make_cert(pki, "front-proxy-client", "/CN=front-proxy-client", client_ext, "front-proxy-ca")
    # Service-account token signing pair (ES256): apiserver signs/verifies, KCM signs legacy.
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(pki / "sa.key"))  # fmt: skip
    _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def kubeconfig_for(server: str, pki: Path, stem: str) -> dict[str, Any]:
    """Kubeconfig with embedded CA and client cert so it works from any cwd or copy."""

    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "mlmodel-local", "cluster": {
            "server": server, "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": stem, "user": {
            "client-certificate-data": b64(f"{stem}.crt"), "client-key-data": b64(f"{stem}.key")}}],
        "contexts": [{"name": "mlmodel-local", "context": {"cluster": "mlmodel-local",
                                                          "user": stem}}],
        "current-context": "mlmodel-local",
    }  # fmt: skip


def node_manifest(index: int) -> dict[str, Any]:
    """A fake Node that kwok adopts (by annotation) and keeps Ready with leases."""
    name = f"{KWOK_NODE_PREFIX}{index}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": name,
                       "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                       "node-role.kubernetes.io/agent": ""},
        },
        "spec": {},
        "status": {"allocatable": dict(NODE_RESOURCES), "capacity": dict(NODE_RESOURCES)},
    }  # fmt: skip


def node_is_ready(node: dict[str, Any]) -> bool:
    """Ready condition True and the not-ready taint gone, i.e. the scheduler will use it."""
    conditions = node.get("status", {}).get("conditions") or []
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    taints = node.get("spec", {}).get("taints") or []
    return ready and not any(t["key"].startswith("node.kubernetes.io/") for t in taints)


# --- the cluster -------------------------------------------------------------------------


@dataclass
class LocalCluster:
    """One control plane rooted at `dir`; `start()` is idempotent, `stop()` leaves nothing."""

    dir: Path = DEFAULT_DIR
    nodes: int = 2
    startup_timeout: float = 60.0
    timings: dict[str, float] = field(default_factory=dict)
    attached: bool = False  # True: someone else runs it; stop() leaves it alone
    die_with_parent: bool = False  # True: components get SIGKILL when this process dies
    _kubeconfig: Path | None = None
    _bin_dir: Path | None = None
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.dir = Path(self.dir).expanduser().resolve()

    @classmethod
    def attach(cls, kubeconfig: Path) -> LocalCluster:
        """Use an already-running cluster (e.g. `up` in another shell) without owning it.

        Why: iterating on cluster tests should not pay a cold start each run; point
        MLMODEL_KUBECONFIG at DIR/kubeconfig of a running cluster and the fixtures reuse it.
        """
        kubeconfig = Path(kubeconfig).expanduser().resolve()
        return cls(kubeconfig.parent, attached=True, _kubeconfig=kubeconfig)

    # paths ---------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (system:masters) for kubectl, helm, kopf and the tests."""
        return self._kubeconfig or self.dir / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.dir / "pki"

    @property
    def marker(self) -> str:
        """Substring of every component's argv; see group_members()."""
        return f"{self.dir}/"

    @property
    def bin_dir(self) -> Path:
        """Directory of the Go-built binaries; recorded at `up`, else asks build-k8s.sh."""
        if self._bin_dir is None:
            recorded = self.state().get("bin_dir")
            if recorded and Path(recorded, "kubectl").is_file():
                self._bin_dir = Path(recorded)
            else:
                self._bin_dir = build_binaries()
        return self._bin_dir

    def state(self) -> dict[str, Any]:
        """Ports and bin dir written by the last `up` ({} if none)."""
        try:
            return dict(json.loads((self.dir / "state.json").read_text()))
        except (OSError, ValueError):
            return {}

    @property
    def server(self) -> str:
        port = self.state().get("apiserver_port")
        if not port:
            raise ClusterError(f"no cluster state in {self.dir}; run `up` first")
        return f"https://127.0.0.1:{port}"

    # talking to the apiserver ----------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")
        return ctx

    def api(self, method: str, path: str, body: Any = None, timeout: float = 5) -> Any:
        """Minimal JSON REST call as admin; stdlib only so `up` needs no client library."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self._ssl(), timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw.startswith(b"{") else raw.decode()

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        """Run the Go-built kubectl against this cluster and return stdout."""
        cmd = [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    # processes -------------------------------------------------------------------------
    def _pidfile(self, name: str) -> Path:
        return self.dir / "pids" / f"{name}.pid"

    def _pid(self, name: str) -> int | None:
        try:
            return int(self._pidfile(name).read_text())
        except (OSError, ValueError):
            return None

    def running_components(self) -> dict[str, int]:
        """Components whose recorded process is alive and verifiably ours."""
        alive = {}
        for name in COMPONENTS:
            pid = self._pid(name)
            if pid is not None and pid in group_members(pid, self.marker):
                alive[name] = pid
        return alive

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start a component in its own session so `down` can kill its whole group."""
        # Append: a component restarted by a fault-injection test keeps its earlier log.
        with open(self.dir / "logs" / f"{name}.log", "ab") as logfile:  # the child keeps a dup
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                cwd=self.dir, env={**os.environ, **(env or {})}, start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )  # fmt: skip
        self._procs[name] = proc
        self._pidfile(name).write_text(f"{proc.pid}\n")

    def _check_alive(self) -> None:
        """Fail fast, naming the log, when a component we started has exited."""
        for name, proc in self._procs.items():
            code = proc.poll()
            if code is not None:
                raise ClusterError(
                    f"{name} exited with code {code} during startup: {self._last_log_line(name)}"
                    f" (full log: {self.dir / 'logs' / f'{name}.log'})"
                )

    def _last_log_line(self, name: str) -> str:
        try:
            lines = (self.dir / "logs" / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        return lines[-1].strip()[:300] if lines else "empty log"

    def _wait(self, what: str, condition: Callable[[], Any], interval: float = 0.1) -> Any:
        """wait_until with the startup deadline, turning a timeout into a ClusterError."""
        try:
            return wait_until(condition, what=what, timeout=self.startup_timeout,
                              interval=interval, check=self._check_alive)  # fmt: skip
        except TimeoutError as exc:
            raise ClusterError(f"{exc}; logs in {self.dir / 'logs'}") from None

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        """Time one step of `up`; the numbers end up in `timings` and on stderr."""
        t0 = time.monotonic()
        yield
        self.timings[name] = round(time.monotonic() - t0, 2)
        log(f"{name}: {self.timings[name]:.2f}s")

    # lifecycle -------------------------------------------------------------------------
    def is_running(self) -> bool:
        """All five components alive and the apiserver answering /readyz."""
        if len(self.running_components()) != len(COMPONENTS):
            return False
        try:
            return bool(self.api("GET", "/readyz") == "ok")
        except (OSError, ClusterError, urllib.error.URLError):
            return False

    def start(self) -> LocalCluster:
        """Bring the control plane up (or reuse a healthy one) and wait until usable."""
        if self.attached:
            if not self.kubeconfig.is_file():
                raise ClusterError(f"kubeconfig {self.kubeconfig} does not exist")
            return self
        if self.is_running():
            log(f"already running in {self.dir}")
            self._ensure_nodes()
            return self
        if self.running_components():
            log("removing the remnants of a broken cluster first")
        self.stop()
        t0 = time.monotonic()
        try:
            self._start_all()
        except BaseException:
            self.stop(quiet=True)
            raise
        self.timings["total"] = round(time.monotonic() - t0, 2)
        log(f"up in {self.timings['total']:.2f}s; KUBECONFIG={self.kubeconfig}")
        return self

    def _start_all(self) -> None:
        """The phases of `up`, each timed; the order is dictated by who needs whom."""
        with self._phase("binaries"):
            bin_dir = self.bin_dir
        with self._phase("certificates+configs"):
            ports = self._prepare(bin_dir)
        with self._phase("etcd"):
            self._start_etcd(ports)
        with self._phase("kube-apiserver"):
            self._start_apiserver(ports)
        with self._phase("controllers started"):
            self._start_controllers(ports)
            self._ensure_nodes(wait=False)
        with self._phase("default ServiceAccount"):
            self._wait("the default ServiceAccount", lambda: self.api(
                "GET", "/api/v1/namespaces/default/serviceaccounts/default"))  # fmt: skip
        with self._phase("nodes Ready"):
            self._ensure_nodes()
        with self._phase("scheduler+controller-manager healthz"):
            for name in ("kube-scheduler", "kube-controller-manager"):
                self._wait(f"{name} /healthz", functools.partial(_insecure_get, ports[name]))

    def _prepare(self, bin_dir: Path) -> dict[str, int]:
        """Fresh dirs, PKI, kubeconfigs and the state file with newly picked ports."""
        for sub in ("etcd", "pki", "kubeconfigs", "kwok", "flexvolume", "logs", "pids"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)
            (self.dir / sub).mkdir(parents=True, mode=0o700)  # etcd insists on 0700
        names = ("etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager",
                 "kube-scheduler")  # fmt: skip
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        state = {"bin_dir": str(bin_dir), "apiserver_port": ports["kube-apiserver"],
                 "ports": ports, "nodes": self.nodes}  # fmt: skip
        (self.dir / "state.json").write_text(json.dumps(state, indent=2) + "\n")
        make_pki(self.pki)
        for stem, _, _ in CLIENTS:
            config = kubeconfig_for(self.server, self.pki, stem)
            target = self.kubeconfig if stem == "admin" else self.dir / "kubeconfigs" / stem
            target.write_text(yaml.safe_dump(config, sort_keys=False))
            target.chmod(0o600)
        return ports

    def _start_etcd(self, ports: dict[str, int]) -> None:
        client = f"http://127.0.0.1:{ports['etcd']}"
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        self._spawn("etcd", [
            str(self.bin_dir / "etcd"), "--name=mlmodel", f"--data-dir={self.dir}/etcd",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=mlmodel={peer}", "--unsafe-no-fsync=true", "--log-level=warn",
        ])  # fmt: skip
        self._wait("etcd /health", lambda: b'"true"' in _http_get(f"{client}/health"))

    def _start_apiserver(self, ports: dict[str, int]) -> None:
        pki = self.pki
        self._spawn("kube-apiserver", [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
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
            # The loopback address is not a valid Endpoints address; nothing runs in-cluster.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            f"--requestheader-client-ca-file={pki}/front-proxy-ca.crt",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki}/front-proxy-client.crt",
            f"--proxy-client-key-file={pki}/front-proxy-client.key",
        ])  # fmt: skip
        self._wait("kube-apiserver /readyz", lambda: self.api("GET", "/readyz") == "ok")

    def _start_controllers(self, ports: dict[str, int]) -> None:
        """kube-controller-manager, kube-scheduler and kwok start in parallel."""
        self._spawn_controller_manager(ports)
        self._spawn_scheduler(ports)
        self._spawn_kwok()

    def _spawn_controller_manager(self, ports: dict[str, int]) -> None:
        pki, kcs = self.pki, self.dir / "kubeconfigs"
        kcm_kc = kcs / "kube-controller-manager"
        self._spawn("kube-controller-manager", [
            str(self.bin_dir / "kube-controller-manager"), f"--kubeconfig={kcm_kc}",
            f"--authentication-kubeconfig={kcm_kc}", f"--authorization-kubeconfig={kcm_kc}",
            "--bind-address=127.0.0.1", f"--secure-port={ports['kube-controller-manager']}",
            "--controllers=*", "--leader-elect=false", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki}/sa.key", f"--root-ca-file={pki}/ca.crt",
            f"--cluster-signing-cert-file={pki}/ca.crt",
            f"--cluster-signing-key-file={pki}/ca.key",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Otherwise it creates /usr/libexec/kubernetes/... on the host.
            f"--flex-volume-plugin-dir={self.dir}/flexvolume",
            # Defaults (20 qps) would take a minute to create 1000 pods.
            "--kube-api-qps=200", "--kube-api-burst=400",
            "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
            "--concurrent-gc-syncs=40",
        ])  # fmt: skip

    def _spawn_scheduler(self, ports: dict[str, int]) -> None:
        kcs = self.dir / "kubeconfigs"
        sched_config = kcs / "kube-scheduler-config.yaml"
        sched_config.write_text(yaml.safe_dump({
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": str(kcs / "kube-scheduler"),
                                 "qps": 200, "burst": 400},
            "leaderElection": {"leaderElect": False},
        }))  # fmt: skip
        self._spawn("kube-scheduler", [
            str(self.bin_dir / "kube-scheduler"), f"--config={sched_config}",
            f"--authentication-kubeconfig={kcs}/kube-scheduler",
            f"--authorization-kubeconfig={kcs}/kube-scheduler",
            "--bind-address=127.0.0.1", f"--secure-port={ports['kube-scheduler']}",
            "--leader-elect=false",
        ])  # fmt: skip

    def _spawn_kwok(self) -> None:
        kcs = self.dir / "kubeconfigs"
        self._spawn("kwok", [
            str(self.bin_dir / "kwok"), f"--kubeconfig={kcs}/kwok",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            f"--cidr={POD_CIDR}", "--node-ip=10.0.0.1",
            # Node leases: without them kwok heartbeats only every ~60 s, past the
            # controller-manager's 50 s grace, and nodes flap NotReady every minute.
            "--node-lease-duration-seconds=40",
        ], env={"KWOK_WORKDIR": str(self.dir / "kwok")})  # fmt: skip
        # KWOK_WORKDIR keeps a developer's ~/.kwok/kwok.yaml (custom stages) out of the tests.

    def _ensure_nodes(self, wait: bool = True) -> None:
        """Create missing fake nodes (409 = exists) and optionally wait until all are Ready."""
        for index in range(self.nodes):
            try:
                self.api("POST", "/api/v1/nodes", node_manifest(index))
            except urllib.error.HTTPError as exc:
                if exc.code != 409:
                    raise ClusterError(f"creating node {index}: HTTP {exc.code}") from None
        if wait:
            self._wait(f"{self.nodes} kwok nodes Ready", self._nodes_ready)

    def _nodes_ready(self) -> bool:
        items = self.api("GET", "/api/v1/nodes?labelSelector=type%3Dkwok")["items"]
        return sum(node_is_ready(n) for n in items) >= self.nodes

    def stop(self, quiet: bool = False, grace: float = 10.0) -> None:
        """Terminate every process group we started (SIGTERM, then SIGKILL) and reap them."""
        if self.attached:
            return
        for tier in STOP_TIERS:
            self._stop_tier(tier, quiet, grace)
        for name in COMPONENTS:
            self._pidfile(name).unlink(missing_ok=True)
        self._procs.clear()

    def _stop_tier(self, names: tuple[str, ...], quiet: bool, grace: float) -> None:
        """Stop some components together; SIGKILL whatever ignores SIGTERM for `grace` s."""
        pids = [p for p in (self._pid(n) for n in names) if p is not None]
        members = [m for pid in pids for m in group_members(pid, self.marker)]
        if members and not quiet:
            log(f"stopping {', '.join(names)}")
        _signal_all(members, signal.SIGTERM)
        if not self._reaped(members, grace):
            _signal_all(members, signal.SIGKILL)
            if not self._reaped(members, 5.0):
                raise ClusterError(f"processes {members} survived SIGKILL")

    def _reaped(self, pids: list[int], timeout: float) -> bool:
        """Wait until none of `pids` is alive; reap our own children so no zombie remains."""
        deadline = time.monotonic() + timeout
        while True:
            for proc in self._procs.values():
                proc.poll()
            if not any(_alive(p) for p in pids):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    # fault injection -------------------------------------------------------------------
    def stop_component(self, name: str, *, kill: bool = False, grace: float = 10.0) -> None:
        """Stop one component and leave the others running (SIGTERM, or SIGKILL with `kill`).

        Why: reliability tests take the apiserver or etcd away under a running operator and
        must see what clients see during a real outage; the other components keep running.
        """
        self._require_owned(name)
        pid = self._pid(name)
        members = group_members(pid, self.marker) if pid is not None else []
        log(f"{'killing' if kill else 'stopping'} {name}")
        _signal_all(members, signal.SIGKILL if kill else signal.SIGTERM)
        if not self._reaped(members, 5.0 if kill else grace):
            _signal_all(members, signal.SIGKILL)
            if not self._reaped(members, 5.0):
                raise ClusterError(f"{name} ({members}) survived SIGKILL")
        self._pidfile(name).unlink(missing_ok=True)
        self._procs.pop(name, None)

    def start_component(self, name: str) -> float:
        """Start one stopped component on its recorded ports; seconds until it is healthy.

        Certificates, kubeconfigs and etcd's data are those of the running cluster, so
        clients (the operator, the tests) reconnect to the same endpoints as after a crash.
        """
        self._require_owned(name)
        if name in self.running_components():
            raise ClusterError(f"{name} is already running")
        ports = {k: int(v) for k, v in self.state()["ports"].items()}
        t0 = time.monotonic()
        if name == "etcd":
            self._start_etcd(ports)
        elif name == "kube-apiserver":
            self._start_apiserver(ports)
        elif name == "kube-controller-manager":
            self._spawn_controller_manager(ports)
            self._wait(f"{name} /healthz", functools.partial(_insecure_get, ports[name]))
        elif name == "kube-scheduler":
            self._spawn_scheduler(ports)
            self._wait(f"{name} /healthz", functools.partial(_insecure_get, ports[name]))
        else:
            self.nodes = int(self.state().get("nodes", self.nodes))
            self._spawn_kwok()
            self._wait(f"{self.nodes} kwok nodes Ready", self._nodes_ready)
        took = round(time.monotonic() - t0, 2)
        log(f"{name} started again in {took:.2f}s")
        return took

    def restart(self, name: str, *, kill: bool = False, down_for: float = 0.0) -> dict[str, float]:
        """Stop (or kill) one component, keep it down `down_for` s, start it again.

        Returns the seconds spent stopping, down and starting, for the tests' figures.
        """
        t0 = time.monotonic()
        self.stop_component(name, kill=kill)
        stopped = round(time.monotonic() - t0, 2)
        time.sleep(down_for)
        started = self.start_component(name)
        return {"stop": stopped, "down": round(down_for + started, 2), "start": started}

    def _require_owned(self, name: str) -> None:
        if name not in COMPONENTS:
            raise ClusterError(f"unknown component {name!r}; one of {', '.join(COMPONENTS)}")
        if self.attached:
            raise ClusterError("this cluster is attached (MLMODEL_KUBECONFIG): it is not ours to break")

    def status(self) -> dict[str, Any]:
        """What runs, whether the apiserver is ready, how many nodes are Ready."""
        running = self.running_components()
        info: dict[str, Any] = {"dir": str(self.dir), "components": {
            name: running.get(name) for name in COMPONENTS}}  # fmt: skip
        try:
            info["readyz"] = self.api("GET", "/readyz")
            items = self.api("GET", "/api/v1/nodes")["items"]
            info["nodes_ready"] = f"{sum(node_is_ready(n) for n in items)}/{len(items)}"
        except (OSError, ClusterError, urllib.error.URLError) as exc:
            info["readyz"] = f"unreachable ({exc})"
        return info

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bytes(resp.read())


def _insecure_get(port: int, path: str = "/healthz") -> bool:
    """Health of KCM/scheduler, which serve a self-signed in-memory certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    url = f"https://127.0.0.1:{port}{path}"
    with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
        return bool(resp.read() == b"ok")


# --- CLI ---------------------------------------------------------------------------------


def _env_lines(cluster: LocalCluster) -> list[str]:
    """Shell lines for `eval`: the admin kubeconfig and the Go-built kubectl/helm on PATH."""
    return [
        f"export KUBECONFIG={shlex.quote(str(cluster.kubeconfig))}",
        f'export PATH={shlex.quote(str(cluster.bin_dir))}:"$PATH"',
    ]


def main(argv: list[str] | None = None) -> int:
    """CLI entry; every failure becomes one `localcluster: error: ...` line and exit 1."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help=f"cluster directory (default {DEFAULT_DIR})")  # fmt: skip
    parser = argparse.ArgumentParser(prog="localcluster.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common], help="start (or reuse) the control plane")
    up.add_argument("--nodes", type=int, default=2, help="number of kwok fake nodes")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds per readiness wait")
    sub.add_parser("down", parents=[common], help="stop every process of the cluster")
    sub.add_parser("status", parents=[common], help="show processes, /readyz and nodes")
    sub.add_parser("env", parents=[common], help="print export lines for KUBECONFIG and PATH")
    restart = sub.add_parser("restart", parents=[common], help="stop one component and start it again")
    restart.add_argument("component", choices=COMPONENTS)
    restart.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    args = parser.parse_args(argv)
    cluster = LocalCluster(args.dir, nodes=getattr(args, "nodes", 2))
    try:
        if args.command == "up":
            cluster.startup_timeout = args.timeout
            cluster.start()
            print(f'cluster up; run: eval "$(python {sys.argv[0]} env --dir {cluster.dir})"')
        elif args.command == "down":
            cluster.stop()
            print(f"cluster in {cluster.dir} stopped")
        elif args.command == "restart":
            print(json.dumps(cluster.restart(args.component, kill=args.kill)))
        elif args.command == "status":
            info = cluster.status()
            print(json.dumps(info, indent=2))
            return 0 if all(info["components"].values()) and info["readyz"] == "ok" else 1
        else:
            print("\n".join(_env_lines(cluster)))
    except (ClusterError, OSError, subprocess.SubprocessError, urllib.error.URLError) as exc:
        print(f"localcluster: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("localcluster: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
