"""A deduplicating work queue with worker threads, after client-go's workqueue.

Why: watch events arrive far faster than reconciles finish (a burst of 1,000
services brings ~10 events each from the owner, its Deployment and its pods).
Running a reconcile per event inside kopf's handlers made every event cost a
full pass and parked kopf's thread pool on per-object locks while the event
bodies piled up in memory. Here a handler only adds the owner's key: a key
waiting in the queue absorbs any number of further adds, a key being
reconciled is marked dirty and runs once more afterwards (its reconcile may
have read state older than the event), and one key never runs on two workers.
Failures are retried per key with exponential backoff. A key can also be added
after a delay (a deadline such as auto-stop, or the next resync); a key waits for
at most one delayed add, the earliest asked, so a reconcile that re-arms its
deadline on every pass does not pile up entries.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

log = logging.getLogger("mlmodel_operator.workqueue")


def failure_delay(failures: int, base: float = 0.5, cap: float = 60.0) -> float:
    """0.5, 1, 2, 4, ... seconds after the 1st, 2nd, 3rd ... failure in a row, up to `cap`."""
    return float(min(cap, base * 2 ** (failures - 1)))


class WorkQueue:
    """`add` never blocks; `workers` threads call `handle(key)` one key at a time."""

    def __init__(
        self,
        handle: Callable[[Hashable], None],
        workers: int = 8,
        max_backoff: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._handle, self._workers, self._max_backoff, self._clock = handle, workers, max_backoff, clock
        self._cond = threading.Condition()
        self._ready: deque[Hashable] = deque()
        self._queued: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._delayed: list[tuple[float, int, Hashable]] = []  # may hold superseded entries
        self._waiting: dict[Hashable, float] = {}  # key -> when its delayed add is due
        self._retries: set[Hashable] = set()  # keys whose delayed add retries a failure
        self._seq = itertools.count()
        self._failures: dict[Hashable, int] = {}
        self._threads: list[threading.Thread] = []
        self.stopped = False

    def add(self, key: Hashable) -> None:
        with self._cond:
            self._add_locked(key)

    def add_after(self, key: Hashable, delay: float) -> None:
        """Add `key` once `delay` seconds have passed (retries, deadlines)."""
        if delay <= 0:
            return self.add(key)
        with self._cond:
            if not self.stopped:
                self._delay_locked(key, self._clock() + delay)

    def forget(self, key: Hashable) -> None:
        """Drop the key's delayed add (its object is gone); an add already due still runs."""
        with self._cond:
            self._waiting.pop(key, None)  # its heap entry is now superseded
            self._retries.discard(key)
            self._failures.pop(key, None)

    def _delay_locked(self, key: Hashable, at: float) -> None:
        """One delayed add per key, at the earliest time asked (client-go's delaying queue)."""
        current = self._waiting.get(key)
        if current is not None and current <= at:
            return
        self._waiting[key] = at
        heapq.heappush(self._delayed, (at, next(self._seq), key))
        self._cond.notify()

    def _add_locked(self, key: Hashable) -> None:
        if self.stopped or key in self._queued:
            return
        if key in self._processing:
            self._dirty.add(key)  # runs again when the current pass ends
            return
        self._queued.add(key)
        self._ready.append(key)
        self._cond.notify()

    def __len__(self) -> int:
        """Keys waiting, being reconciled or to be retried; not deadlines scheduled ahead."""
        with self._cond:
            return len(self._ready) + len(self._processing) + len(self._retries)

    def start(self) -> None:
        """Start the workers once; later calls (a restarted kopf) only re-open the queue."""
        with self._cond:
            self.stopped = False
            if self._threads:
                return
            for i in range(self._workers):
                thread = threading.Thread(target=self._work, name=f"reconcile-{i}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def stop(self) -> None:
        """Drop everything pending; passes already running finish (their retries end early)."""
        with self._cond:
            self.stopped = True
            self._ready.clear()
            self._queued.clear()
            self._dirty.clear()
            self._delayed.clear()
            self._waiting.clear()
            self._retries.clear()
            self._cond.notify_all()

    def _next(self) -> Hashable:
        """Block until a key is ready; promote delayed keys whose time has come."""
        with self._cond:
            while True:
                now = self._clock()
                while self._delayed and self._delayed[0][0] <= now:
                    at, _, key = heapq.heappop(self._delayed)
                    if self._waiting.get(key) == at:  # not superseded by an earlier one
                        del self._waiting[key]
                        self._retries.discard(key)
                        self._add_locked(key)
                if self._ready:
                    key = self._ready.popleft()
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                timeout = self._delayed[0][0] - now if self._delayed else None
                self._cond.wait(timeout)

    def _done(self, key: Hashable, failed: bool) -> None:
        with self._cond:
            self._processing.discard(key)
            failures = self._failures.pop(key, 0) + 1  # a success forgets past failures
            if failed and not self.stopped:
                self._failures[key] = failures
                delay = failure_delay(failures, cap=self._max_backoff)
                self._retries.add(key)
                self._delay_locked(key, self._clock() + delay)
            if key in self._dirty:
                self._dirty.discard(key)
                self._add_locked(key)

    def _work(self) -> None:
        while True:
            key = self._next()
            failed = False
            try:
                self._handle(key)
            except Exception:
                failed = True
                log.exception("reconcile of %s failed; retrying with backoff", key)
            self._done(key, failed)
