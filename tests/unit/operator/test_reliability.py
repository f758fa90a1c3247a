"""Unit tests of the reliability pieces: kopf restarts, peering priority and object,
kopf settings, and the one-line failure reasons shown while the old version serves."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

import kopf
import pytest
from fake_apiserver import FakeApiServer
from helpers import deployment, pod
from test_retries import kube_over

from mlmodel_operator.config import PRIORITY_SPREAD, Config, ConfigError, effective_priority
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.k8s.client import ApiError
from mlmodel_operator.k8s.peering import ensure_peering, peering_objects
from mlmodel_operator.main import KOPF_BACKOFFS, tune
from mlmodel_operator.status.events import transition_events
from mlmodel_operator.status.phase import compute_phase
from mlmodel_operator.status.workload import assess, pod_failure
from mlmodel_operator.supervisor import Shutdown, restart_delay, supervise
from mlmodel_operator.workqueue import WorkQueue

# --- kopf is started again when it stops on an error -------------------------------------


class Runs:
    """`run_once` stand-in: each call takes `durations[i]` seconds and fails unless last."""

    def __init__(self, durations: list[float], fail_last: bool = False) -> None:
        self.durations, self.fail_last, self.now, self.sleeps = durations, fail_last, 0.0, []  # type: ignore[var-annotated]
        self.calls = 0

    def __call__(self) -> None:
        self.now += self.durations[self.calls]
        self.calls += 1
        if self.calls < len(self.durations) or self.fail_last:
            raise RuntimeError("watch stream failed after its last retry")

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_kopf_failures_are_restarted_with_growing_pauses() -> None:
    runs = Runs([1, 1, 1, 1])
    assert supervise(runs, sleep=runs.sleep, clock=lambda: runs.now) == 3
    assert runs.sleeps == [2, 4, 8]


def test_quick_failures_in_a_row_give_up() -> None:
    runs = Runs([1] * 5, fail_last=True)
    with pytest.raises(RuntimeError):
        supervise(runs, max_quick_failures=5, sleep=runs.sleep, clock=lambda: runs.now)
    assert runs.calls == 5


def test_a_long_healthy_run_resets_the_count() -> None:
    # Fails after 1 s, then after 500 s (healthy), ... never 5 quick ones in a row.
    runs = Runs([1, 1, 500, 1, 1, 500, 1, 1, 1])
    supervise(runs, max_quick_failures=4, healthy_after=120, sleep=runs.sleep, clock=lambda: runs.now)
    assert runs.calls == 9
    assert runs.sleeps[2] == restart_delay(1)  # the count started again


def test_an_error_met_after_the_stop_signal_is_not_restarted() -> None:
    runs = Runs([1, 1], fail_last=True)
    assert supervise(runs, stopping=lambda: runs.calls == 2, sleep=runs.sleep, clock=lambda: runs.now) == 1
    assert runs.calls == 2


def test_kopf_can_stop_on_an_error_of_its_own_while_the_stop_flag_is_down() -> None:
    """kopf waits for the stop flag in its loop, and asyncio.run waits for the loop's executor
    threads at exit: a flag waited for on such a thread kept kopf.run from ever returning."""
    from kopf._cogs.aiokits.aioadapters import wait_flag

    flag = Shutdown(lambda: None).arm()

    async def kopf_run() -> None:
        waiting = asyncio.create_task(wait_flag(flag))
        await asyncio.sleep(0.01)
        waiting.cancel()  # what kopf does to its stop-flag checker when another root task fails

    returned = threading.Thread(target=asyncio.run, args=(kopf_run(),), daemon=True)
    returned.start()
    returned.join(5)
    assert not returned.is_alive()


def test_restart_delay_is_capped() -> None:
    assert [restart_delay(n) for n in (1, 2, 3, 4, 5, 9)] == [2, 4, 8, 16, 30, 30]


# --- peering: distinct priorities, the peering object, short lifetime ----------------------


def test_equal_configured_priorities_get_distinct_effective_ones() -> None:
    draws = iter([7, 9])
    first, second = (effective_priority(0, lambda n: next(draws)) for _ in range(2))
    assert first != second and 0 <= first < PRIORITY_SPREAD


def test_a_higher_configured_priority_always_wins() -> None:
    assert effective_priority(1, lambda n: 0) > effective_priority(0, lambda n: n - 1)


def test_peering_lifetime_is_configurable_but_not_below_ten_seconds() -> None:
    assert Config.from_env({}).peering_lifetime == 15
    assert Config.from_env({"MLMODEL_OPERATOR_PEERING_LIFETIME": "20"}).peering_lifetime == 20
    with pytest.raises(ConfigError, match="PEERING_LIFETIME"):
        Config.from_env({"MLMODEL_OPERATOR_PEERING_LIFETIME": "3"})


def test_kopf_settings_for_outages_and_peering() -> None:
    settings = kopf.OperatorSettings()
    tune(settings, Config(peering="ha", peering_lifetime=15), priority=123)
    assert (settings.peering.priority, settings.peering.lifetime) == (123, 15)
    assert settings.networking.error_backoffs == KOPF_BACKOFFS
    assert max(KOPF_BACKOFFS) <= 5 and sum(KOPF_BACKOFFS) > 120  # reconnect fast, give up late
    assert settings.persistence.finalizer == "mlmodel.dev/kopf-finalizer"


def test_peering_objects_cluster_wide_or_per_exact_namespace() -> None:
    [(path, body)] = peering_objects("ha", ())
    assert (path, body["kind"]) == ("/apis/kopf.dev/v1/clusterkopfpeerings", "ClusterKopfPeering")
    paths = [p for p, _ in peering_objects("ha", ("a", "team-*", "b"))]
    assert paths == [f"/apis/kopf.dev/v1/namespaces/{ns}/kopfpeerings" for ns in ("a", "b")]


def test_ensure_peering_creates_only_what_is_missing() -> None:
    api = FakeApiServer()
    kube, _ = kube_over(api)
    assert ensure_peering(kube, "ha", ("a",)) == 1
    api.objects["/apis/kopf.dev/v1/namespaces/a/kopfpeerings/ha"] = {"metadata": {"name": "ha"}}
    assert ensure_peering(kube, "ha", ("a",)) == 0 and api.count("POST") == 1  # read, not created


def test_ensure_peering_tolerates_races_and_missing_permission() -> None:
    api = FakeApiServer()
    kube, _ = kube_over(api)
    api.fail("POST", "/apis/kopf.dev/v1/namespaces/a/kopfpeerings", 409)
    api.fail("POST", "/apis/kopf.dev/v1/namespaces/b/kopfpeerings", 403)
    assert ensure_peering(kube, "ha", ("a", "b")) == 0
    api.fail("POST", "/apis/kopf.dev/v1/clusterkopfpeerings", 422)
    with pytest.raises(ApiError):
        ensure_peering(kube, "ha", ())


# --- a new version that fails: the reason is one line, the old pods keep serving ----------

LOG_TAIL = (
    "INFO:     Started server process [1]\n"
    "INFO:     Waiting for application startup.\n"
    "mlmodel serve: error: cannot load /models/fruit/model.tflite: not a TFLite flatbuffer\n"
)


def crash_looping(message: str) -> dict[str, Any]:
    return {
        "name": "server",
        "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": message}},
    }


def test_crash_loop_reason_is_the_last_log_line() -> None:
    failure = pod_failure(pod("new", containers=[crash_looping(LOG_TAIL)]))
    assert failure == (
        "CrashLoopBackOff",
        "container server: CrashLoopBackOff: mlmodel serve: error: "
        "cannot load /models/fruit/model.tflite: not a TFLite flatbuffer",
    )


def test_crash_loop_of_the_new_version_is_degraded_while_the_old_serves() -> None:
    dep = deployment(replicas=1, available=1, updated=1, total=2, generation=2, observed=2)
    work = assess(dep, [pod("old"), pod("new", containers=[crash_looping(LOG_TAIL)])], "new", 1)
    assert (work.phase, work.available.status, work.progressing.reason) == (
        "Degraded",
        "True",
        "CrashLoopBackOff",
    )
    assert work.progressing.message.endswith("not a TFLite flatbuffer")


def _status(phase: str, reason: str) -> dict[str, Any]:
    ready = {"type": "Ready", "status": "False", "reason": reason, "message": reason}
    return {"phase": phase, "conditions": [ready]}


def test_a_new_failure_reason_while_degraded_posts_a_new_warning() -> None:
    held, crashing = _status("Degraded", "Unschedulable"), _status("Degraded", "CrashLoopBackOff")
    assert transition_events(held, crashing) == [
        ("Warning", "Degraded", "CrashLoopBackOff (CrashLoopBackOff: see docs/operator.md#troubleshooting)")
    ]
    assert transition_events(crashing, crashing) == []  # the same failure: no repeat
    long = {
        "phase": "Degraded",
        "conditions": [{"type": "Ready", "reason": "ModelLoadFailed", "message": "x" * 3000}],
    }
    [(_, _, message)] = transition_events(held, long)
    assert len(message) <= 1024 and message.endswith(
        "(ModelLoadFailed: see docs/operator.md#troubleshooting)"
    )
    assert transition_events(_status("Running", "Ready"), _status("Running", "Other")) == []


def test_a_new_version_waiting_for_verification_is_not_a_failure() -> None:
    serving = {"stopped": False, "has_deployment": True, "serving": True, "workload_phase": "Running"}
    assert compute_phase(resolved=False, resolve_reason="PackageNotVerified", **serving) == "Deploying"
    assert compute_phase(resolved=False, resolve_reason="ChecksumMismatch", **serving) == "Degraded"
    assert compute_phase(resolved=False, resolve_reason="PackageNotFound", **serving) == "Degraded"


def test_after_stop_queued_reconciles_are_dropped_and_retries_end() -> None:
    api = FakeApiServer()
    api.fail("GET", "/api/v1/namespaces/ns/configmaps/x", *[503] * 5)
    kube, clock = kube_over(api)
    rt = Runtime(Config(), kube, lambda: None, lambda *a: None)  # type: ignore[arg-type, return-value]
    ran = threading.Event()
    rt.queue = WorkQueue(lambda key: ran.set(), workers=1)
    rt.resume()
    rt.stop()
    rt.queue.add(("k",))
    with pytest.raises(ApiError):
        kube.get("/api/v1/namespaces/ns/configmaps/x")
    assert not ran.wait(0.2) and clock.sleeps == []  # no reconcile, no backoff wait
    rt.resume()  # kopf started again by the supervisor
    rt.queue.add(("k",))
    assert ran.wait(5)


def test_sigterm_drops_queued_reconciles_then_raises_kopf_stop_flag() -> None:
    dropped: list[bool] = []
    shutdown = Shutdown(lambda: dropped.append(True))
    flag = shutdown.arm()

    async def main() -> None:
        shutdown.install()
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), "not installed"
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)  # the loop delivers the signal to the handler

    asyncio.run(main())
    assert dropped == [True] and flag.is_set()
    assert not shutdown.arm().is_set()  # kopf restarted by the supervisor gets a fresh flag
