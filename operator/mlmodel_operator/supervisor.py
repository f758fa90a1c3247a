"""Keep the operator running when kopf itself stops on an error.

kopf retries API requests, but a watch stream or a peering keep-alive that still
fails after its last backoff (an apiserver or etcd outage of a few minutes)
ends `kopf.run` with an exception. Exiting would be correct inside a pod (the
kubelet restarts it) but loses minutes to CrashLoopBackOff, and it kills an
operator run by hand or by the tests. So the operator starts kopf again, with a
growing pause, and only gives up after several failures in quick succession,
which points at a configuration problem rather than an outage.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable

log = logging.getLogger("mlmodel_operator.supervisor")


def restart_delay(failures: int, cap: float = 30.0) -> float:
    """2, 4, 8, 16, 30, 30, ... seconds after the 1st, 2nd, ... failure in a row."""
    return float(min(cap, 2**failures))


def supervise(
    run_once: Callable[[], None],
    *,
    stopping: Callable[[], bool] = lambda: False,
    server: str = "",
    max_quick_failures: int = 5,
    healthy_after: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Call `run_once` until it returns normally (SIGTERM/SIGINT); returns the restart count.

    A run that lasted `healthy_after` seconds resets the count of quick failures, so an
    operator that survives one outage a day never gives up. A run that fails once
    `stopping()` is true is not restarted: the stop was asked for, and kopf re-raises at
    exit an error it had met before. KeyboardInterrupt and other BaseExceptions are not
    caught. `server` names the API server in the log, the usual cause of kopf's errors.
    """
    restarts, failures = 0, 0
    while True:
        started = clock()
        try:
            run_once()
            return restarts
        except Exception:
            if stopping():
                log.exception("kopf stopped on an error while stopping")
                return restarts
            failures = 1 if clock() - started >= healthy_after else failures + 1
            if failures >= max_quick_failures:
                log.error("kopf stopped on an error %d times in a row; giving up", failures)
                raise
            delay = restart_delay(failures)
            log.exception(
                "kopf stopped on an error (API server %s); starting it again in %.0fs", server, delay
            )
            sleep(delay)
            restarts += 1


class Shutdown:
    """SIGTERM/SIGINT: drop the queued reconciles at once, then let kopf stop.

    kopf waits at exit for every synchronous handler already queued in its thread pool
    (they cannot be cancelled), so a busy operator took 30 s to stop and was SIGKILLed,
    which also makes a peering standby wait the whole lifetime instead of taking over at
    once. kopf's own signal handler only raises its stop flag, so this one replaces it
    (public asyncio and kopf API: `loop.add_signal_handler`, `kopf.run(stop_flag=...)`):
    it first calls `drop` (the reconciles become no-ops), then raises the same flag.
    """

    def __init__(self, drop: Callable[[], None]) -> None:
        self.drop = drop
        self.flag = asyncio.Event()

    def arm(self) -> asyncio.Event:
        """A fresh stop flag for one `kopf.run` (a restarted kopf must not stop at once).

        An asyncio.Event, set by the signal handler on kopf's own loop: kopf waits for a
        threading.Event on an executor thread, which asyncio.run joins at exit, so a kopf
        that stopped on an error of its own never returned, and was never restarted.
        """
        self.flag = asyncio.Event()
        return self.flag

    def requested(self) -> bool:
        return self.flag.is_set()

    def install(self) -> None:
        """Call from inside kopf's event loop (an async startup handler), after kopf's own."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self, sig)
            except (RuntimeError, ValueError):  # not the main thread: kopf ignores signals too
                return

    def __call__(self, sig: signal.Signals) -> None:
        log.info("%s received: dropping queued reconciles and stopping", sig.name)
        self.drop()
        self.flag.set()
