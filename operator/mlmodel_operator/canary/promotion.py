"""The promotion state machine (pure): where an experiment starts, and each step's verdict.

A pass first takes the state the pods should follow (`current`), builds the pod template
from it, and after reading the workload back moves it on (`advance`). A step starts once
every pod runs its template; the candidate is rolled back as soon as a gate fails on
enough inferences, and promoted to the next step once a whole interval has passed with
every gate met. The clock is the operator's injectable one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mlmodel_operator.canary.experiment import Experiment
from mlmodel_operator.canary.observe import Observed
from mlmodel_operator.canary.spec import CanarySpec, Gates, Promotion
from mlmodel_operator.canary.state import (
    FINAL,
    MANUAL,
    PENDING,
    PROGRESSING,
    PROMOTED,
    REFUSED,
    ROLLED_BACK,
    CanaryState,
)

MANUAL_POLL = timedelta(seconds=30)  # refreshing the observed split of a manual canary
MIN_POLL, MAX_POLL = timedelta(seconds=1), timedelta(seconds=15)


def poll_period(canary: CanarySpec) -> timedelta:
    """How often a step's pods are read: a few times per interval, within bounds."""
    if canary.promotion is None:
        return MANUAL_POLL
    return min(MAX_POLL, max(MIN_POLL, canary.promotion.interval / 4))


def current(canary: CanarySpec, exp: Experiment, previous: CanaryState | None) -> CanaryState:
    """The state this pass deploys: the previous one of the same experiment, else a new one."""
    same = previous if previous is not None and previous.key == exp.key else None
    if same is not None and (same.state in FINAL or exp.refusal is None):
        return same
    fresh = CanaryState(
        key=exp.key,
        entry=exp.stable.name,
        package=exp.stable.package,
        stable=exp.stable.version,
        candidate=canary.version,
        state=MANUAL if canary.promotion is None else PROGRESSING,
        percent=canary.percent,
        mirror=canary.mirror,
    )
    if exp.refusal is not None:
        state = PENDING if exp.waiting else REFUSED
        reason, message = exp.refusal
        return replace(fresh, state=state, percent=0, reason=reason, message=message)
    return replace(fresh, reason="Starting", message=f"rolling out {_share(fresh)}")


@dataclass(frozen=True)
class Rollout:
    """The workload of the state's template: every pod runs it, or its new pods fail."""

    done: bool
    failure: str | None = None


@dataclass(frozen=True)
class Verdict:
    passed: bool | None  # None: not enough inferences to tell yet
    reason: str
    message: str


def due(canary: CanarySpec, state: CanaryState, rollout: Rollout, now: datetime) -> bool:
    """Whether this pass should read the pods: their step runs and the last read is old."""
    if not state.in_pods or state.state in FINAL or not rollout.done:
        return False
    return state.observed_at is None or now - state.observed_at >= poll_period(canary)


def advance(
    canary: CanarySpec, state: CanaryState, rollout: Rollout, observed: Observed | None, now: datetime
) -> tuple[CanaryState, timedelta | None]:
    """The next state, and when to look again (None: an event will bring the next pass)."""
    if state.state not in (PROGRESSING, MANUAL):
        return state, None
    if rollout.failure and canary.promotion is not None:
        return rolled_back(state, "CandidateFailing", f"the step's pods fail: {rollout.failure}", now), None
    if not rollout.done:
        return replace(state, reason="RollingOut", message=f"rolling out {_share(state)}"), None
    state = replace(state, step_started=state.step_started or now)
    if observed is not None:
        state = replace(state, observed=observed.to_status(), observed_at=now)
    wait = _until_next_read(canary, state, now)
    if canary.promotion is None or observed is None:
        return _holding(state, canary.promotion), wait
    return _judged(canary.promotion, state, judge(canary.promotion, observed), now, wait)


def _judged(
    promotion: Promotion, state: CanaryState, verdict: Verdict, now: datetime, wait: timedelta
) -> tuple[CanaryState, timedelta | None]:
    if verdict.passed is False:
        return rolled_back(state, verdict.reason, verdict.message, now), None
    assert state.step_started is not None
    left = state.step_started + promotion.interval - now
    if verdict.passed and left <= timedelta(0):
        return promoted(promotion, state, verdict, now), None
    message = (
        verdict.message if verdict.passed is None else f"{verdict.message}; next decision in {_span(left)}"
    )
    return replace(state, reason=verdict.reason, message=message), min(wait, max(left, MIN_POLL))


def _holding(state: CanaryState, promotion: Promotion | None) -> CanaryState:
    if promotion is not None:
        return state  # a read is due soon: the verdict comes with it
    return replace(state, reason="Manual", message=f"{_share(state)}; promotion is manual")


def _until_next_read(canary: CanarySpec, state: CanaryState, now: datetime) -> timedelta:
    last = state.observed_at or now
    return max(MIN_POLL, last + poll_period(canary) - now)


def judge(promotion: Promotion, observed: Observed) -> Verdict:
    """The step's gates on what its pods report."""
    runs, needed = observed.candidate_runs, promotion.min_requests
    if runs < needed:
        return Verdict(None, "WaitingForRequests", f"{runs} of {needed} candidate inferences so far")
    gates = promotion.gates
    if gates.max_error_rate is not None and observed.error_rate > gates.max_error_rate:
        return Verdict(False, "ErrorRateAboveGate", _gate_message(observed, gates, "error rate"))
    if gates.min_agreement is not None:
        if observed.comparisons < needed:
            return Verdict(
                None, "WaitingForRequests", f"{observed.comparisons} of {needed} comparisons so far"
            )
        if observed.agreement < gates.min_agreement:
            return Verdict(False, "AgreementBelowGate", _gate_message(observed, gates, "agreement"))
    if gates.max_p99_ms is not None and observed.p99_ms > gates.max_p99_ms:
        return Verdict(False, "LatencyAboveGate", _gate_message(observed, gates, "p99"))
    return Verdict(True, "GatesMet", _gate_message(observed, gates, None))


def _gate_message(observed: Observed, gates: Gates, failed: str | None) -> str:
    """Every gate's value against its limit; the failing one first."""
    parts = {
        "error rate": (gates.max_error_rate, f"{observed.error_rate:.4f}", "<="),
        "agreement": (gates.min_agreement, f"{observed.agreement:.4f}", ">="),
        "p99": (gates.max_p99_ms, f"{observed.p99_ms:.1f} ms", "<="),
    }
    shown = [
        f"{name} {value} {'breaks' if name == failed else op} {limit:g}"
        for name, (limit, value, op) in parts.items()
        if limit is not None
    ]
    shown.sort(key=lambda text: not text.startswith(failed or "\0"))
    counted = f"over {observed.candidate_runs} candidate inferences"
    return f"{', '.join(shown)} {counted}" if shown else f"no gates; {counted}"


def rolled_back(state: CanaryState, reason: str, message: str, now: datetime) -> CanaryState:
    """Every request back on the stable version; final for this experiment."""
    text = f"step {state.step + 1} ({state.percent}%): {message}; {state.stable} answers every request"
    decided = state.decided(now, "RollBack", reason, text)
    return replace(decided, state=ROLLED_BACK, percent=0, reason=reason, message=text)


def promoted(promotion: Promotion, state: CanaryState, verdict: Verdict, now: datetime) -> CanaryState:
    """The next step, or, after the last, the candidate answering everything."""
    passed = f"step {state.step + 1} ({state.percent}%) passed: {verdict.message}"
    if state.step + 1 < len(promotion.steps):
        step = state.step + 1
        decided = state.decided(now, "Promote", "GatesMet", f"{passed}; next {promotion.steps[step]}%")
        nxt = replace(decided, step=step, percent=promotion.steps[step], step_started=None)
        nxt = replace(nxt, observed=None, observed_at=None)
        return replace(nxt, reason="RollingOut", message=f"rolling out {_share(nxt)}")
    text = (
        f"{passed}; {state.package} {state.candidate} answers every request: set the version of "
        f"spec.packages[{state.entry}] to {state.candidate!r} and remove spec.canary to keep it"
    )
    decided = state.decided(now, "Complete", "AllStepsPassed", text)
    return replace(decided, state=PROMOTED, reason="AllStepsPassed", message=text)


def _share(state: CanaryState) -> str:
    return f"{state.package} {state.candidate} answering {state.percent}%"


def _span(delta: timedelta) -> str:
    seconds = max(0, round(delta.total_seconds()))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
