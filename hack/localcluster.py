#!/usr/bin/env python3
"""A throwaway Kubernetes cluster built from Go modules: a control plane, a real node, kwok.

Why: these machines have no container engine, so kind cannot run, yet the operator must be
tested against a real apiserver (admission, RBAC, garbage collection, PodSecurity) and its
pods must really run. This runs etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (fake nodes whose pods turn Running and Ready without containers) as
plain processes, each in its own process group; with `real_node` also containerd, kubelet
and kube-proxy, a node whose pods run under runc (clusterkit/realnode.py), and metrics-server
scraping its kubelet (clusterkit/metrics.py).

CLI (clusterkit/cli.py):
    python hack/localcluster.py up [--dir DIR] [--nodes N] [--no-real-node]
    python hack/localcluster.py down [--dir DIR]          # exit 1 if anything is left
    python hack/localcluster.py status [--dir DIR]
    python hack/localcluster.py restart COMPONENT [--kill] [--dir DIR]   # fault injection
    eval "$(python hack/localcluster.py env [--dir DIR])"

Python (real_node defaults to False here, True in the CLI):
    cluster = LocalCluster(Path("/tmp/c"), nodes=2, real_node=True).start()
    cluster.kubectl("get", "nodes")
    cluster.restart("kube-apiserver")      # or stop_component() / start_component()
    cluster.stop(); assert cluster.leftovers() == []

Layout of DIR: kubeconfig (admin, system:masters), pki/, kubeconfigs/ (one per component),
etcd/ (data), logs/<component>.log, pids/<component>.pid, state.json (ports, bin dir, host),
and for the real node containerd/, kubelet/, cni/ and host-state.json (what `down` restores).

This file is the facade: LocalCluster (lifecycle, fault injection). The pieces (process
groups, certificates, component flags, the real node, fake nodes, the CLI) live in
hack/clusterkit/.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusterkit import cli, components, metrics
from clusterkit.binaries import build_binaries
from clusterkit.common import (
    COMPONENTS,
    DEFAULT_DIR,
    NODE_COMPONENTS,
    NODE_IP,
    STOP_TIERS,
    ClusterError,
    log,
)
from clusterkit.nodeconfig import NodeLayout
from clusterkit.nodes import count_ready, create_nodes, ready_fake_nodes
from clusterkit.operatorenv import operator_env
from clusterkit.pki import make_pki, write_kubeconfigs
from clusterkit.procs import free_ports, stop_process, wait_until
from clusterkit.realnode import RealNode, image_archives
from clusterkit.rest import api_call, http_get, insecure_get
from clusterkit.supervisor import Supervisor

# What tests/cluster and the control-plane benchmark (benchmarks/controlplane_*.py, peers/) import;
# nothing else is public.
__all__ = ["ClusterError", "LocalCluster", "free_ports", "operator_env", "stop_process", "wait_until"]


@dataclass
class LocalCluster:
    """One control plane rooted at `dir`; `start()` is idempotent, `stop()` leaves nothing."""

    dir: Path = DEFAULT_DIR
    nodes: int = 2
    real_node: bool = False  # True: a kubelet node that runs our image (clusterkit/realnode.py)
    startup_timeout: float = 60.0
    timings: dict[str, float] = field(default_factory=dict)
    attached: bool = False  # True: someone else runs it; stop() leaves it alone
    die_with_parent: bool = False  # True: components get SIGKILL when this process dies
    _kubeconfig: Path | None = None
    _bin_dir: Path | None = None
    _supervisor: Supervisor = field(init=False, repr=False)  # pid files, logs, children

    def __post_init__(self) -> None:
        self.dir = Path(self.dir).expanduser().resolve()
        self._supervisor = Supervisor(self.dir)

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
    def kubeconfigs(self) -> Path:
        """The components' own kubeconfigs (and the scheduler's config file)."""
        return self.dir / "kubeconfigs"

    @property
    def marker(self) -> str:
        """Substring of every component's argv; see clusterkit.procs.group_members()."""
        return self._supervisor.marker

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
        """The apiserver's URL: loopback, or the real node's address when there is one."""
        state = self.state()
        if not state.get("apiserver_port"):
            raise ClusterError(f"no cluster state in {self.dir}; run `up` first")
        return f"https://{state.get('host', '127.0.0.1')}:{state['apiserver_port']}"

    @property
    def has_real_node(self) -> bool:
        """From state.json once `up` wrote it (so `down` knows), else what was asked for."""
        state = self.state()
        return bool(state.get("real_node")) if state else self.real_node

    @property
    def components(self) -> tuple[str, ...]:
        return COMPONENTS + (NODE_COMPONENTS if self.has_real_node else ())

    def node(self) -> RealNode:
        """The real node's lifecycle over this cluster's ports and processes."""
        ports = {k: int(v) for k, v in self.state()["ports"].items()}
        layout = NodeLayout(self.dir, self.pki, self.kubeconfigs, ports["kubelet"],
                            ports["kubelet-healthz"], ports["kube-proxy-healthz"],
                            ports["kube-proxy-metrics"])  # fmt: skip
        return RealNode(layout, self.bin_dir, self._supervisor, self._wait, self.api, self.die_with_parent)

    # talking to the apiserver ----------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 5) -> Any:
        """Minimal JSON REST call as admin; stdlib only so `up` needs no client library."""
        return api_call(self.server, self.pki, method, path, body, timeout)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        """Run the Go-built kubectl against this cluster and return stdout."""
        cmd = [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    # processes -------------------------------------------------------------------------
    def running_components(self) -> dict[str, int]:
        """Components whose recorded process is alive and verifiably ours."""
        return self._supervisor.running(self.components)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self._supervisor.spawn(name, argv, env, orphan_dies=self.die_with_parent)

    def _wait(self, what: str, condition: Callable[[], Any], interval: float = 0.1) -> Any:
        """wait_until with the startup deadline, turning a timeout into a ClusterError."""
        try:
            return wait_until(condition, what=what, timeout=self.startup_timeout,
                              interval=interval, check=self._supervisor.check_alive)  # fmt: skip
        except TimeoutError as exc:
            raise ClusterError(f"{exc}; logs in {self.dir / 'logs'}") from None

    def _wait_healthz(self, name: str, ports: dict[str, int]) -> None:
        """KCM and scheduler: /healthz on their secure port."""
        self._wait(f"{name} /healthz", functools.partial(insecure_get, ports[name]))

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        """Time one step of `up`; the numbers end up in `timings` and on stderr."""
        t0 = time.monotonic()
        yield
        self.timings[name] = round(time.monotonic() - t0, 2)
        log(f"{name}: {self.timings[name]:.2f}s")

    # lifecycle -------------------------------------------------------------------------
    def is_running(self) -> bool:
        """All components alive and the apiserver answering /readyz."""
        if len(self.running_components()) != len(self.components):
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
            # Never the bin dir an earlier `up` of this directory recorded: the pins may have moved.
            bin_dir = self._bin_dir = build_binaries()
        images = []
        if self.real_node:
            self._node_preflight(bin_dir)
            with self._phase("images (built once, cached by input hash)"):
                images = image_archives()
        with self._phase("certificates+configs"):
            ports = self._prepare(bin_dir)
        if self.real_node:
            with self._phase("real node: host setup"):
                self.node().prepare_host()
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
                self._wait_healthz(name, ports)
        if self.real_node:
            with self._phase("real node: containerd, images, kubelet, kube-proxy"):
                self.node().start(images)
            with self._phase("metrics-server: the real node's metrics listed"):
                metrics.start(self._spawn, self.api, self._wait, self.bin_dir, self.pki, self.kubeconfigs,
                              ports["metrics-server"])  # fmt: skip

    def _node_preflight(self, bin_dir: Path) -> None:
        """The real node's checks need no ports or certificates yet: fail before building."""
        layout = NodeLayout(self.dir, self.pki, self.kubeconfigs, 0, 0, 0, 0)
        RealNode(layout, bin_dir, self._supervisor, self._wait, self.api).preflight()

    def _prepare(self, bin_dir: Path) -> dict[str, int]:
        """Fresh dirs, PKI, kubeconfigs and the state file with newly picked ports."""
        for sub in ("etcd", "pki", "kubeconfigs", "kwok", "flexvolume", "logs", "pids", "cni"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)
            (self.dir / sub).mkdir(parents=True, mode=0o700)  # etcd insists on 0700
        names = components.PORT_NAMES
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        state = {"bin_dir": str(bin_dir), "apiserver_port": ports["kube-apiserver"],
                 "host": NODE_IP if self.real_node else "127.0.0.1", "real_node": self.real_node,
                 "ports": ports, "nodes": self.nodes}  # fmt: skip
        (self.dir / "state.json").write_text(json.dumps(state, indent=2) + "\n")
        make_pki(self.pki)
        write_kubeconfigs(self.server, self.pki, self.kubeconfig, self.kubeconfigs)
        return ports

    def _start_etcd(self, ports: dict[str, int]) -> None:
        self._spawn("etcd", components.etcd_argv(self.bin_dir, self.dir / "etcd", ports))
        health = f"{components.etcd_client_url(ports)}/health"
        self._wait("etcd /health", lambda: b'"true"' in http_get(health))

    def _start_apiserver(self, ports: dict[str, int]) -> None:
        host = str(self.state().get("host", "127.0.0.1"))
        self._spawn("kube-apiserver", components.apiserver_argv(self.bin_dir, self.pki, ports, host))
        self._wait("kube-apiserver /readyz", lambda: self.api("GET", "/readyz") == "ok")

    def _start_controllers(self, ports: dict[str, int]) -> None:
        """kube-controller-manager, kube-scheduler and kwok start in parallel."""
        self._spawn_controller_manager(ports)
        self._spawn_scheduler(ports)
        self._spawn_kwok()

    def _spawn_controller_manager(self, ports: dict[str, int]) -> None:
        argv = components.controller_manager_argv(
            self.bin_dir, self.pki, self.kubeconfigs, self.dir / "flexvolume", ports
        )
        self._spawn("kube-controller-manager", argv)

    def _spawn_scheduler(self, ports: dict[str, int]) -> None:
        config = self.kubeconfigs / "kube-scheduler-config.yaml"
        config.write_text(yaml.safe_dump(components.scheduler_config(self.kubeconfigs)))
        argv = components.scheduler_argv(self.bin_dir, self.kubeconfigs, config, ports)
        self._spawn("kube-scheduler", argv)

    def _spawn_kwok(self) -> None:
        argv = components.kwok_argv(self.bin_dir, self.kubeconfigs)
        self._spawn("kwok", argv, env=components.kwok_env(self.dir / "kwok"))

    def _ensure_nodes(self, wait: bool = True) -> None:
        """Create missing fake nodes and optionally wait until all are Ready."""
        create_nodes(self.api, self.nodes, tainted=self.has_real_node)
        if wait:
            self._wait_nodes()

    def _wait_nodes(self) -> None:
        self._wait(f"{self.nodes} kwok nodes Ready", lambda: ready_fake_nodes(self.api) >= self.nodes)

    def stop(self, quiet: bool = False, grace: float = 10.0) -> None:
        """Terminate every process group we started (SIGTERM, then SIGKILL) and reap them."""
        if self.attached:
            return
        node = self.has_real_node and bool(self.state().get("ports"))
        for index, tier in enumerate(STOP_TIERS):
            self._stop_tier(tier, quiet, grace)
            if index == 0 and node:
                if not quiet:
                    log("removing the real node's pods, containers, links, rules and cgroups")
                self.node().stop()
        for name in self.components:
            self._supervisor.forget(name)

    def leftovers(self) -> list[str]:
        """What the real node left on the host ([] after a clean `down`; always [] without)."""
        if not (self.has_real_node and self.state().get("ports")):
            return []
        return self.node().leftovers()

    def _stop_tier(self, names: tuple[str, ...], quiet: bool, grace: float) -> None:
        """Stop some components together; SIGKILL whatever ignores SIGTERM for `grace` s."""
        members = [m for name in names for m in self._supervisor.members(name)]
        if members and not quiet:
            log(f"stopping {', '.join(names)}")
        self._supervisor.terminate(members, signal.SIGTERM, grace, f"processes {members}")

    # fault injection -------------------------------------------------------------------
    def stop_component(self, name: str, *, kill: bool = False, grace: float = 10.0) -> None:
        """Stop one component and leave the others running (SIGTERM, or SIGKILL with `kill`).

        Why: reliability tests take the apiserver or etcd away under a running operator and
        must see what clients see during a real outage; the other components keep running.
        """
        self._require_owned(name)
        members = self._supervisor.members(name)
        log(f"{'killing' if kill else 'stopping'} {name}")
        first, wait = (signal.SIGKILL, 5.0) if kill else (signal.SIGTERM, grace)
        self._supervisor.terminate(members, first, wait, f"{name} ({members})")
        self._supervisor.forget(name)

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
        self._restart_one(name, ports)
        took = round(time.monotonic() - t0, 2)
        log(f"{name} started again in {took:.2f}s")
        return took

    def _restart_one(self, name: str, ports: dict[str, int]) -> None:
        """Spawn `name` alone and wait for the same health signal `up` waits for."""
        if name == "etcd":
            self._start_etcd(ports)
        elif name == "kube-apiserver":
            self._start_apiserver(ports)
        elif name == "kube-controller-manager":
            self._spawn_controller_manager(ports)
            self._wait_healthz(name, ports)
        elif name == "kube-scheduler":
            self._spawn_scheduler(ports)
            self._wait_healthz(name, ports)
        elif name in NODE_COMPONENTS:
            raise ClusterError(f"restarting {name} alone is not supported; `down` and `up` instead")
        else:
            self.nodes = int(self.state().get("nodes", self.nodes))
            self._spawn_kwok()
            self._wait_nodes()

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
        if name not in self.components:
            raise ClusterError(f"unknown component {name!r}; one of {', '.join(self.components)}")
        if self.attached:
            raise ClusterError("this cluster is attached (MLMODEL_KUBECONFIG): it is not ours to break")

    def status(self) -> dict[str, Any]:
        """What runs, whether the apiserver is ready, how many nodes are Ready."""
        running = self.running_components()
        info: dict[str, Any] = {"dir": str(self.dir), "components": {
            name: running.get(name) for name in self.components}}  # fmt: skip
        try:
            info["readyz"] = self.api("GET", "/readyz")
            items = self.api("GET", "/api/v1/nodes")["items"]
            info["nodes_ready"] = f"{count_ready(items)}/{len(items)}"
        except (OSError, ClusterError, urllib.error.URLError) as exc:
            info["readyz"] = f"unreachable ({exc})"
        return info

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """The CLI (clusterkit/cli.py) over this module's LocalCluster."""
    return cli.main(LocalCluster, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
