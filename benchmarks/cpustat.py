"""Where the machine's CPU went during a cell: the server, the client, and everything else.

The client shares the cores with the server, and other work on the machine
(a test suite, a build) skews every figure; measuring the CPU time of each
makes both visible in the results instead of silently folding into them.
Linux only (/proc); elsewhere the figures are left out.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Sample:
    wall: float
    machine_busy: float  # CPU-seconds, all cores, all processes
    server: float  # CPU-seconds of the servers' process groups
    client: float  # CPU-seconds of this process


@dataclass(frozen=True)
class Usage:
    """Average cores in use (1.0 = one core busy) over the interval."""

    server_cores: float
    client_cores: float
    other_cores: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}


def sample(server_pgids: tuple[int, ...]) -> Sample | None:
    try:
        busy = _machine_busy()
    except OSError:
        return None
    server = _groups_cpu(server_pgids) if server_pgids else 0.0
    own = resource.getrusage(resource.RUSAGE_SELF)
    return Sample(time.monotonic(), busy, server, own.ru_utime + own.ru_stime)


def usage(before: Sample | None, after: Sample | None) -> Usage | None:
    if before is None or after is None or after.wall <= before.wall:
        return None
    wall = after.wall - before.wall
    server = (after.server - before.server) / wall
    client = (after.client - before.client) / wall
    busy = (after.machine_busy - before.machine_busy) / wall
    return Usage(server, client, max(0.0, busy - server - client))


def _machine_busy() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / TICK  # guest time is already in user


def _groups_cpu(pgids: tuple[int, ...]) -> float:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) in pgids:  # field 5 of stat: pgrp
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICK


class Meter:
    """Measures one window: `start()` at its opening, `stop()` at its close."""

    def __init__(self, server_pgids: tuple[int, ...] = ()) -> None:
        self.pgids = server_pgids
        self._before: Sample | None = None

    def start(self) -> None:
        self._before = sample(self.pgids)

    def stop(self) -> dict[str, float] | None:
        found = usage(self._before, sample(self.pgids))
        return found.as_dict() if found else None


class Quiet:
    """Waits for the rest of the machine to go quiet, within a total time budget.

    `threshold` is in cores used by processes other than the server and the client.
    """

    def __init__(self, threshold: float, budget_s: float, log: Callable[[str], None]) -> None:
        self.threshold = threshold
        self.budget_s = budget_s
        self.log = log

    def noisy(self, window: dict[str, float]) -> bool:
        return window.get("other_cores", 0.0) > self.threshold

    def spend(self, seconds: float) -> None:
        self.budget_s = max(0.0, self.budget_s - seconds)

    def wait(self, max_s: float) -> None:
        """Sample 1 s windows until the background is under the threshold (or time is up).

        The first sample is free; the waiting after it comes out of the budget.
        """
        deadline = time.monotonic() + 1.0 + min(max_s, self.budget_s)
        other = self._background()
        while other is not None and other > self.threshold and time.monotonic() < deadline:
            other = self._background()
            self.spend(1.0)
        if other is not None and other > self.threshold:
            self.log(f"  (the machine is busy: {other:.2f} cores used by other processes)")

    @staticmethod
    def _background() -> float | None:
        before = sample(())
        time.sleep(1.0)
        found = usage(before, sample(()))
        return found.other_cores if found else None
