"""Process groups on Linux: spawning, finding, signalling and reaping; polling with deadlines.

Every component runs in a session of its own, so stopping it means signalling its whole
process group; /proc tells which members are still alive and still ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from .common import ClusterError

T = TypeVar("T")


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


# --- finding processes -------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int] | None:
    """Return (state, process group) of `pid`, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces
    return fields[0], int(fields[2])


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a zombie holds no ports or memory)."""
    stat = proc_stat(pid)
    return stat is not None and stat[0] not in "ZX"


def cmdline(pid: int) -> str:
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
        stat = proc_stat(pid)
        if stat and stat[1] == pgid and stat[0] not in "ZX" and marker in cmdline(pid):
            found.append(pid)
    return found


# --- starting processes ------------------------------------------------------------------


def die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGKILL it when its parent dies.

    Why: a test session killed hard (SIGKILL, CI timeout) skips fixture teardown; without
    this its apiserver and etcd would linger. The CLI's `up` must not use it: it exits at once.
    """
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def spawn(
    argv: list[str], logfile: Path, cwd: Path, env: dict[str, str] | None, orphan_dies: bool
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session so a stop can kill its whole group.

    Output is appended: a component restarted by a fault-injection test keeps its earlier log.
    `orphan_dies` arms die_with_parent() in the child.
    """
    with open(logfile, "ab") as out:  # the child keeps a dup
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=cwd, env={**os.environ, **(env or {})}, start_new_session=True,
            preexec_fn=die_with_parent if orphan_dies else None,
        )  # fmt: skip


def last_log_line(logfile: Path) -> str:
    """The last line of a component's log, for a one-line error when it dies."""
    try:
        lines = logfile.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    return lines[-1].strip()[:300] if lines else "empty log"


# --- stopping processes ------------------------------------------------------------------


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    """Send `sig` to each pid, ignoring ones that already exited."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def reaped(pids: list[int], timeout: float, children: Iterable[subprocess.Popen[bytes]]) -> bool:
    """Wait until none of `pids` is alive; reap our own `children` so no zombie remains."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in children:
            proc.poll()
        if not any(alive(p) for p in pids):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def terminate(
    pids: list[int],
    first: signal.Signals,
    grace: float,
    children: Iterable[subprocess.Popen[bytes]],
    what: str,
) -> None:
    """Send `first`, then SIGKILL whatever outlives `grace` s.

    Raises ClusterError naming `what` if anything is still alive 5 s after SIGKILL.
    """
    signal_all(pids, first)
    if not reaped(pids, grace, children):
        signal_all(pids, signal.SIGKILL)
        if not reaped(pids, 5.0, children):
            raise ClusterError(f"{what} survived SIGKILL")


def stop_process(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM one child we started, SIGKILL it if it outlives `grace` s, and reap it."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
