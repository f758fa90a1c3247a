"""The reconcile work queue: one pass per key at a time, bursts collapsed, failures retried."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Hashable

from mlmodel_operator.workqueue import WorkQueue, failure_delay


def wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_a_burst_of_adds_for_one_key_is_one_pass() -> None:
    calls: list[Hashable] = []
    queue = WorkQueue(calls.append, workers=2)
    for _ in range(100):  # queued before any worker runs: all collapse into one
        queue.add("a")
    queue.add("b")
    queue.start()
    assert wait_for(lambda: len(queue) == 0)
    assert sorted(calls) == ["a", "b"]  # type: ignore[type-var]


def test_an_add_during_a_pass_runs_the_key_once_more_never_concurrently() -> None:
    running, release, calls = threading.Event(), threading.Event(), []
    active, overlaps = [0], []

    def slow(key: Hashable) -> None:
        active[0] += 1
        overlaps.append(active[0])
        calls.append(key)
        running.set()
        release.wait(5)
        active[0] -= 1

    queue = WorkQueue(slow, workers=4)
    queue.start()
    queue.add("k")
    assert running.wait(5)
    for _ in range(10):  # the first pass may have read state older than these events
        queue.add("k")
    release.set()
    assert wait_for(lambda: len(calls) == 2 and len(queue) == 0)
    time.sleep(0.1)
    assert calls == ["k", "k"] and max(overlaps) == 1


def test_a_failing_key_is_retried_with_backoff_and_others_proceed() -> None:
    attempts: list[float] = []

    def handle(key: Hashable) -> None:
        if key == "bad":
            attempts.append(time.monotonic())
            if len(attempts) < 3:
                raise RuntimeError("API said 500")

    done = threading.Event()
    queue = WorkQueue(lambda k: handle(k) if k == "bad" else done.set(), workers=1)
    queue.start()
    queue.add("bad")
    queue.add("good")
    assert done.wait(5)  # the failure did not block the other key
    assert wait_for(lambda: len(attempts) == 3)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.45 and gaps[1] >= 0.95  # 0.5 s, then 1 s
    assert [failure_delay(n, cap=60) for n in (1, 2, 3, 10)] == [0.5, 1.0, 2.0, 60.0]


def test_add_after_waits_and_stop_drops_everything_pending() -> None:
    calls: list[Hashable] = []
    queue = WorkQueue(calls.append, workers=1)
    queue.start()
    queue.add_after("later", 0.2)
    assert wait_for(lambda: calls == ["later"]) and calls == ["later"]
    queue.add_after("dropped", 0.2)
    queue.stop()
    queue.add("ignored")
    time.sleep(0.4)
    assert calls == ["later"]
    queue.start()  # a restarted kopf re-opens the queue; the threads are reused
    queue.add("again")
    assert wait_for(lambda: calls == ["later", "again"])


def test_forget_drops_a_deleted_objects_delayed_add_only() -> None:
    calls: list[Hashable] = []
    queue = WorkQueue(calls.append, workers=1)
    queue.start()
    queue.add_after("gone", 0.2)  # its resync, armed before it was deleted
    queue.add_after("kept", 0.2)
    queue.forget("gone")
    assert wait_for(lambda: calls == ["kept"])
    time.sleep(0.2)
    assert calls == ["kept"] and len(queue) == 0
