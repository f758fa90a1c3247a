"""The processes of one cluster directory: pid files, logs, spawning, stopping, reaping.

Why pid files: `down` runs in another process than `up`, so the pids must be on disk. Why
the marker check: a pid file may outlive its process and the pid may be reused; only
processes whose argv names a path inside the cluster dir count as ours.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

from . import procs
from .common import ClusterError


class Supervisor:
    """Process bookkeeping of the cluster rooted at `root` (pids/, logs/)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.marker = f"{root}/"  # substring of every component's argv
        self.children: dict[str, subprocess.Popen[bytes]] = {}  # started by this process

    def pidfile(self, name: str) -> Path:
        return self.root / "pids" / f"{name}.pid"

    def logfile(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def pid(self, name: str) -> int | None:
        try:
            return int(self.pidfile(name).read_text())
        except (OSError, ValueError):
            return None

    def members(self, name: str) -> list[int]:
        """Live processes of component `name`'s group that are verifiably ours."""
        pid = self.pid(name)
        return procs.group_members(pid, self.marker) if pid is not None else []

    def running(self, names: Iterable[str]) -> dict[str, int]:
        """Those of `names` whose recorded process is alive and verifiably ours."""
        alive = {}
        for name in names:
            pid = self.pid(name)
            if pid is not None and pid in procs.group_members(pid, self.marker):
                alive[name] = pid
        return alive

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None, orphan_dies: bool) -> None:
        """Start a component in its own session and record its pid for `down`."""
        proc = procs.spawn(argv, self.logfile(name), self.root, env, orphan_dies)
        self.children[name] = proc
        self.pidfile(name).write_text(f"{proc.pid}\n")

    def check_alive(self) -> None:
        """Fail fast, naming the log, when a component we started has exited."""
        for name, proc in self.children.items():
            code = proc.poll()
            if code is not None:
                raise ClusterError(
                    f"{name} exited with code {code} during startup: "
                    f"{procs.last_log_line(self.logfile(name))} (full log: {self.logfile(name)})"
                )

    def terminate(self, pids: list[int], first: signal.Signals, grace: float, what: str) -> None:
        """procs.terminate(), reaping our own children while waiting."""
        procs.terminate(pids, first, grace, self.children.values(), what)

    def forget(self, name: str) -> None:
        """After a stop: drop the pid file and the child handle."""
        self.pidfile(name).unlink(missing_ok=True)
        self.children.pop(name, None)
