"""A canary within one MLModelService reconcile: before the children are applied, the
state the pods follow; after the workload is read back, the pods' metrics and the next
state, and the pass that should come next.

Everything decided here is pure (mlmodel_operator.canary); this module only reads the
candidate's ModelPackage, the step's pods' metrics, and schedules the next look.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlmodel_operator import API_VERSION, podmetrics
from mlmodel_operator.builders.candidate import CandidatePods
from mlmodel_operator.canary import observe
from mlmodel_operator.canary.experiment import Experiment, experiment
from mlmodel_operator.canary.promotion import Rollout, advance, current, due
from mlmodel_operator.canary.spec import CanarySpec
from mlmodel_operator.canary.state import CanaryState
from mlmodel_operator.handlers.plans import Plan
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.status.workload import Workload, pod_hash, pod_ready


@dataclass(frozen=True)
class CanaryPass:
    spec: CanarySpec
    experiment: Experiment
    state: CanaryState  # what this pass deploys

    @property
    def pods(self) -> CandidatePods | None:
        """The candidate the pod template loads, while the state keeps it in the pods."""
        candidate = self.experiment.candidate
        if candidate is None or not self.state.in_pods:
            return None
        return CandidatePods(
            candidate,
            self.experiment.stable.version,
            self.state.percent,
            self.state.mirror,
            self.spec.tolerance,
        )


def begin(rt: Runtime, owner: dict[str, Any], plan: Plan) -> CanaryPass | None:
    """The experiment on the deployed pins, and the state its pods follow now."""
    canary = CanarySpec.from_spec(owner.get("spec") or {})
    if canary is None or plan.effective is None:
        return None
    stable = next((p for p in plan.effective.packages if p.name == canary.entry), None)
    if stable is None:
        return None
    package = rt.read(API_VERSION, "ModelPackage", owner["metadata"]["namespace"], stable.package)
    found = experiment(canary, plan.effective, package, plan.attributes)
    if found is None:
        return None
    previous = (owner.get("status") or {}).get("canary")
    return CanaryPass(
        canary, found, current(canary, found, CanaryState.from_status(previous) if previous else None)
    )


def finish(
    rt: Runtime,
    owner: dict[str, Any],
    step: CanaryPass,
    work: Workload,
    pods: list[dict[str, Any]],
    desired_hash: str | None,
) -> CanaryState:
    """The state after this pass; a look is scheduled while a step is being judged."""
    now: datetime = rt.clock()
    progressing = work.progressing
    rollout = Rollout(work.phase == "Running", None if progressing.is_true else progressing.message)
    observed = None
    if due(step.spec, step.state, rollout, now):
        serving = [p for p in pods if pod_ready(p) and pod_hash(p) == desired_hash]
        found = podmetrics.targets(serving, rt.config.pod_metrics_url)
        observed = observe.scrape(found, step.state.candidate, rt.config.pod_metrics_timeout)
    state, wait = advance(step.spec, step.state, rollout, observed, now)
    if wait is not None:
        meta = owner["metadata"]
        rt.queue.add_after((owner["kind"], meta["namespace"], meta["name"]), wait.total_seconds())
    return state
