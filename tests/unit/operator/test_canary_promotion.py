"""The promotion state machine, on the injectable clock: steps, gates, rollbacks."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import url_pkg

from mlmodel_operator.canary.experiment import Experiment
from mlmodel_operator.canary.observe import Observed
from mlmodel_operator.canary.promotion import Rollout, advance, current, due, poll_period
from mlmodel_operator.canary.report import conditions
from mlmodel_operator.canary.spec import CanarySpec
from mlmodel_operator.canary.state import CanaryState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DONE = Rollout(done=True)
GATES = {"maxErrorRate": 0.01, "maxP99Ms": 50, "minAgreement": 0.98}
EXP = Experiment("key-1", url_pkg("2"), url_pkg("3"))


def canary(**extra: Any) -> CanarySpec:
    body = {"version": "3", "mirror": True, **extra}
    found = CanarySpec.from_spec({"packages": [{"name": "fruit_classifier"}], "canary": body})
    assert found is not None
    return found


PROMOTED = canary(promotion={"steps": [10, 50, 100], "interval": "5m", "gates": GATES})


def seen(runs: int = 1000, errors: int = 0, agree: float = 1.0, seconds: float = 0.004) -> Observed:
    """What a step's pods report: every request mirrored, each inference `seconds` long."""
    return Observed(
        pods=2,
        answers=runs,
        candidate_answers=runs // 10,
        candidate_runs=runs,
        candidate_errors=errors,
        buckets=((seconds, float(runs)), (math.inf, float(runs))),
        agreements=round(agree * runs),
        comparisons=runs,
    )


def started(spec: CanarySpec = PROMOTED, at: datetime = T0) -> CanaryState:
    """The first step, its pods rolled out at `at` and read once."""
    state, _ = advance(spec, current(spec, EXP, None), DONE, seen(runs=0), at)
    return state


def test_an_experiment_starts_at_its_first_step_and_a_manual_one_at_its_percent():
    first = current(PROMOTED, EXP, None)
    assert (first.state, first.percent, first.step, first.in_pods) == ("Progressing", 10, 0, True)
    manual = current(canary(percent=25), EXP, None)
    assert (manual.state, manual.percent) == ("Manual", 25)


def test_a_step_waits_for_every_pod_to_run_it_before_its_clock_starts():
    state, wait = advance(PROMOTED, current(PROMOTED, EXP, None), Rollout(done=False), None, T0)
    assert state.step_started is None and state.reason == "RollingOut" and wait is None
    assert started().step_started == T0


def test_too_few_inferences_decide_nothing_even_after_the_interval():
    state, wait = advance(PROMOTED, started(), DONE, seen(runs=40), T0 + timedelta(minutes=6))
    assert (state.state, state.reason) == ("Progressing", "WaitingForRequests")
    assert "40 of 100 candidate inferences" in state.message and wait is not None


def test_gates_met_wait_for_the_interval_then_promote_to_the_next_step():
    early, wait = advance(PROMOTED, started(), DONE, seen(), T0 + timedelta(minutes=2))
    assert (early.state, early.percent, early.reason) == ("Progressing", 10, "GatesMet")
    assert "next decision in 3m00s" in early.message and wait == timedelta(seconds=15)
    later, wait = advance(PROMOTED, early, DONE, seen(), T0 + timedelta(minutes=5))
    assert (later.state, later.step, later.percent, later.step_started) == ("Progressing", 1, 50, None)
    decision = later.decisions[-1]
    assert (decision["action"], decision["step"], decision["percent"], decision["reason"]) == (
        "Promote",
        1,
        10,
        "GatesMet",
    )
    assert decision["observed"]["agreement"] == 1.0 and wait is None


def test_three_steps_of_gates_met_promote_the_candidate():
    state, now = started(), T0
    for _ in range(3):
        now += timedelta(minutes=5)
        state, _ = advance(PROMOTED, state, DONE, seen(), now)
        if state.state == "Progressing":
            state, _ = advance(PROMOTED, state, DONE, None, now)  # the step's pods are up
    assert (state.state, state.percent) == ("Promoted", 100)
    assert [d["percent"] for d in state.decisions] == [10, 50, 100]
    promoted, rolled = conditions(state)
    assert (promoted.status, promoted.reason) == ("True", "AllStepsPassed")
    assert "set the version of spec.packages[fruit_classifier] to '3'" in promoted.message
    assert rolled.status == "False"


@pytest.mark.parametrize(
    ("observed", "reason", "words"),
    [
        (seen(agree=0.5), "AgreementBelowGate", "agreement 0.5000 breaks 0.98"),
        (seen(errors=50), "ErrorRateAboveGate", "error rate 0.0500 breaks 0.01"),
        (seen(seconds=0.2), "LatencyAboveGate", "p99 198.0 ms breaks 50"),
    ],
)
def test_a_failed_gate_rolls_back_at_once_without_waiting_for_the_interval(observed, reason, words):
    state, wait = advance(PROMOTED, started(), DONE, observed, T0 + timedelta(seconds=20))
    assert (state.state, state.percent, state.reason, state.in_pods) == ("RolledBack", 0, reason, False)
    assert words in state.message and "2 answers every request" in state.message and wait is None
    assert state.decisions[-1]["action"] == "RollBack"
    _, rolled = conditions(state)
    assert (rolled.type, rolled.status, rolled.reason) == ("RolledBack", "True", reason)


def test_a_rolled_back_experiment_stays_so_until_the_experiment_changes():
    rolled, _ = advance(PROMOTED, started(), DONE, seen(agree=0), T0)
    assert current(PROMOTED, EXP, rolled) is rolled
    retried = current(PROMOTED, Experiment("key-2", url_pkg("2"), url_pkg("4")), rolled)
    assert (retried.state, retried.percent, retried.decisions) == ("Progressing", 10, ())


def test_pods_of_a_step_that_fail_roll_the_candidate_back_but_not_a_manual_one():
    failing = Rollout(done=False, failure="container server: CrashLoopBackOff: mlmodel serve: error: ...")
    state, _ = advance(PROMOTED, current(PROMOTED, EXP, None), failing, None, T0)
    assert (state.state, state.reason) == ("RolledBack", "CandidateFailing")
    assert "CrashLoopBackOff" in state.message
    manual = canary(percent=10)
    state, _ = advance(manual, current(manual, EXP, None), failing, None, T0)
    assert state.state == "Manual"


@pytest.mark.parametrize(
    ("reason", "state"), [("VersionNotFound", "Refused"), ("PackageNotVerified", "Pending")]
)
def test_a_candidate_that_cannot_run_keeps_every_request_on_the_stable_version(reason, state):
    exp = Experiment("key-3", url_pkg("2"), None, (reason, "fruit 3: ..."))
    found = current(PROMOTED, exp, None)
    assert (found.state, found.percent, found.in_pods, found.reason) == (state, 0, False, reason)
    promoted, _ = conditions(found)
    assert (promoted.status, promoted.reason) == ("False", reason)


def test_the_pods_are_read_a_few_times_per_interval_within_bounds():
    state = started()
    assert not due(PROMOTED, state, DONE, T0 + timedelta(seconds=14))
    assert due(PROMOTED, state, DONE, T0 + timedelta(seconds=15))
    assert not due(PROMOTED, state, Rollout(done=False), T0 + timedelta(minutes=1))
    assert poll_period(canary(promotion={"steps": [100], "interval": "2s"})) == timedelta(seconds=1)
    assert poll_period(canary(percent=5)) == timedelta(seconds=30)


def test_a_manual_canary_reports_its_split_and_never_decides():
    manual = canary(percent=10)
    state, wait = advance(manual, current(manual, EXP, None), DONE, seen(agree=0), T0)
    assert (state.state, state.reason, state.decisions) == ("Manual", "Manual", ())
    assert state.observed is not None and state.observed["candidateShare"] == 0.1
    assert wait == timedelta(seconds=30)


def test_the_state_survives_its_round_trip_through_status():
    state, _ = advance(PROMOTED, started(), DONE, seen(), T0 + timedelta(minutes=5))
    assert CanaryState.from_status(state.to_status()) == state
