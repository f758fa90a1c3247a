"""Canary and shadow traffic, the control-plane side, on kwok: what the API server refuses,
the pods' template at each step, status, conditions and Events, the GitOps commit.

kwok's pods run nothing, so what their /metrics would say is served by the session's fake
(operator_fixtures.PodMetrics), written with the server's own families; time moves through
the operator's injectable clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from operator_fixtures import Objects, OperatorProcess
from prometheus_client import CollectorRegistry, generate_latest
from test_operator import MODEL_V1, MODEL_V2, cm_version, deployment, mlmodel, model_configmap, package

from mlmodel_operator.k8s.client import ApiError
from mlmodel_server.canary.metrics import SplitMetrics

pytestmark = pytest.mark.cluster
GATES = {"maxErrorRate": 0.01, "maxP99Ms": 100, "minAgreement": 0.9}
PROMOTION = {"steps": [10, 50, 100], "interval": "1m", "minRequests": 10, "gates": GATES}
STEP = 61  # seconds of the operator's clock that pass an interval


@pytest.fixture
def objs(kube: Any, namespace: str, mlmodel_operator: OperatorProcess) -> Iterator[Objects]:
    yield Objects(kube, namespace, mlmodel_operator)
    mlmodel_operator.reset_clock()


def report(op: OperatorProcess, objs: Objects, agreeing: float, runs: int = 200) -> None:
    """What every pod of the namespace reports: `runs` mirrored requests, 10 % answered by
    the candidate (version 2), `agreeing` of them with the same answer."""
    metrics = SplitMetrics()
    for version, role, n in (("1", "answer", runs * 9 // 10), ("2", "answer", runs // 10)):
        metrics.requests.labels("canary", version, role, "ok").inc(n)
    metrics.requests.labels("canary", "2", "shadow", "ok").inc(runs * 9 // 10)
    for _ in range(runs):
        metrics.duration.labels("canary", "2", "shadow").observe(0.004)
    agree = round(runs * agreeing)
    metrics.comparisons.labels("canary", "1", "2", "agree").inc(agree)
    metrics.comparisons.labels("canary", "1", "2", "disagree").inc(runs - agree)

    class Families:
        def collect(self) -> Any:
            return metrics.families()

    registry = CollectorRegistry()
    registry.register(Families())
    assert op.pod_metrics is not None
    op.pod_metrics.texts[objs.ns] = generate_latest(registry).decode()


def two_versions(objs: Objects, **canary: Any) -> None:
    objs.create(model_configmap("fruit-v1", MODEL_V1))
    objs.create(model_configmap("fruit-v2", MODEL_V2))
    objs.create(package("fruit", cm_version("1", "fruit-v1"), cm_version("2", "fruit-v2")))
    objs.create(mlmodel("canary", version="1", canary={"version": "2", "mirror": True, **canary}))


def canary(objs: Objects) -> dict[str, Any]:
    return dict(objs.status("MLModelService", "canary").get("canary") or {})


def step_running(objs: Objects, step: int, percent: int) -> dict[str, Any]:
    """Wait until the step's pods all run and the operator has started its clock."""

    def running() -> dict[str, Any] | None:
        found = canary(objs)
        return (
            found
            if (found.get("step"), found.get("percent")) == (step, percent) and "stepStartedAt" in found
            else None
        )

    return objs.wait(running, f"step {step} ({percent}%) running (now {canary(objs)})")


def server_args(objs: Objects) -> list[str]:
    return list(deployment(objs, "canary-mlmodel")["spec"]["template"]["spec"]["containers"][0]["args"])


def init_names(objs: Objects) -> list[str]:
    return [
        c["name"] for c in deployment(objs, "canary-mlmodel")["spec"]["template"]["spec"]["initContainers"]
    ]


def test_gates_met_step_the_candidate_up_to_promotion_and_the_commit_ends_it(
    objs: Objects, mlmodel_operator: OperatorProcess
) -> None:
    report(mlmodel_operator, objs, agreeing=1.0)
    two_versions(objs, promotion=PROMOTION)
    step_running(objs, 1, 10)
    args = server_args(objs)
    assert args[args.index("--candidate-percent") + 1] == "10" and "--mirror" in args
    assert init_names(objs) == ["fetch-fruit-classifier", "candidate-fetch-fruit-classifier"]
    for step, percent in ((2, 50), (3, 100)):
        mlmodel_operator.advance_clock(STEP)
        step_running(objs, step, percent)
        args = server_args(objs)
        assert args[args.index("--candidate-percent") + 1] == str(percent)
    mlmodel_operator.advance_clock(STEP)
    objs.wait(lambda: canary(objs).get("state") == "Promoted", "the candidate promoted")
    promoted = objs.condition("MLModelService", "canary", "Promoted")
    assert (promoted["status"], promoted["reason"]) == ("True", "AllStepsPassed")
    assert "set the version of spec.packages[fruit_classifier] to '2'" in promoted["message"]
    decisions = canary(objs)["decisions"]
    assert [(d["action"], d["percent"]) for d in decisions] == [
        ("Promote", 10),
        ("Promote", 50),
        ("Complete", 100),
    ]
    assert decisions[0]["observed"]["agreement"] == 1.0 and decisions[0]["observed"]["candidateShare"] == 0.1
    assert objs.condition("MLModelService", "canary", "Ready")["status"] == "True"
    reasons = [e["reason"] for e in objs.events("canary")]
    assert "CanaryStarted" in reasons and reasons.count("CanaryPromoted") == 3
    # The GitOps commit: the repository pins the candidate and drops the canary.
    pins = [{"name": "fruit_classifier", "package": "fruit", "version": "2"}]
    objs.patch("MLModelService", "canary", {"spec": {"packages": pins, "canary": None}})
    objs.wait(lambda: not canary(objs) and "--candidate-model" not in server_args(objs), "the canary gone")
    assert not objs.condition("MLModelService", "canary", "Promoted")
    objs.wait_phase("MLModelService", "canary", "Running")
    assert objs.status("MLModelService", "canary")["servingPackages"][0]["version"] == "2"


def test_a_candidate_that_disagrees_is_rolled_back_at_once(
    objs: Objects, mlmodel_operator: OperatorProcess
) -> None:
    report(mlmodel_operator, objs, agreeing=0.0)
    two_versions(objs, promotion=PROMOTION)
    objs.wait(lambda: canary(objs).get("state") == "RolledBack", f"rolled back (now {canary(objs)})")
    assert mlmodel_operator.offset() == 0  # within the first interval: the clock never moved
    rolled = objs.condition("MLModelService", "canary", "RolledBack")
    assert (rolled["status"], rolled["reason"]) == ("True", "AgreementBelowGate")
    assert (
        "agreement 0.0000 breaks 0.9" in rolled["message"] and "1 answers every request" in rolled["message"]
    )
    objs.wait(lambda: "--candidate-model" not in server_args(objs), "the candidate out of the pod template")
    assert init_names(objs) == ["fetch-fruit-classifier"] and canary(objs)["percent"] == 0
    warning = [e for e in objs.events("canary") if e["reason"] == "CanaryRolledBack"]
    assert warning and warning[0]["type"] == "Warning"
    assert objs.condition("MLModelService", "canary", "Ready")["status"] == "True"


def test_a_manual_canary_reports_its_split_and_kubectl_shows_it(
    objs: Objects, mlmodel_operator: OperatorProcess, mlmodel_crds: Any
) -> None:
    report(mlmodel_operator, objs, agreeing=1.0)
    two_versions(objs, percent=10)
    objs.wait(lambda: (canary(objs).get("observed") or {}).get("candidateShare") == 0.1, "the observed split")
    assert canary(objs)["state"] == "Manual"
    assert objs.condition("MLModelService", "canary", "Promoted")["reason"] == "ManualPromotion"
    table = mlmodel_crds.kubectl("get", "mlms", "canary", "-n", objs.ns).splitlines()
    header, row = table[0].split(), table[1].split()
    assert header[:5] == ["NAME", "PHASE", "VERSION", "CANDIDATE", "SHARE"]
    assert row[2:5] == ["1", "2", "10"]


def test_a_candidate_the_operator_cannot_deploy_leaves_every_request_on_the_stable(objs: Objects) -> None:
    objs.create(model_configmap("fruit-v1", MODEL_V1))
    objs.create(package("fruit", cm_version("1", "fruit-v1")))
    objs.create(mlmodel("canary", version="1", canary={"version": "9", "percent": 10}))
    objs.wait(lambda: canary(objs).get("state") == "Refused", f"refused (now {canary(objs)})")
    promoted = objs.condition("MLModelService", "canary", "Promoted")
    assert (promoted["status"], promoted["reason"]) == ("False", "VersionNotFound")
    assert "has no version '9'" in promoted["message"]
    objs.wait_phase("MLModelService", "canary", "Running")
    assert "--candidate-model" not in server_args(objs) and canary(objs)["percent"] == 0


def refusal(objs: Objects, **canary_spec: Any) -> str:
    """The API server's answer to a service with this canary (it must refuse it)."""
    with pytest.raises(ApiError) as refused:
        objs.create(mlmodel("bad", version="1", canary=canary_spec))
    assert refused.value.status == 422
    return str(refused.value.body)


@pytest.mark.parametrize(
    ("canary_spec", "words"),
    [
        ({"version": "1", "percent": 5}, "spec.canary.version: Invalid value"),
        ({"version": "2", "percent": 5, "package": "other"}, "canary.package must be the ModelPackage"),
        ({"version": "2", "percent": 5, "name": "nope"}, "canary.name must name an entry of spec.packages"),
        ({"version": "2", "percent": 101}, "spec.canary.percent: Invalid value: 101"),
        ({"version": "2"}, "canary.percent is required without promotion"),
        ({"version": "2", "promotion": {"steps": [50, 10, 100], "interval": "1m"}}, "strictly increasing"),
        ({"version": "2", "promotion": {"steps": [10, 50], "interval": "1m"}}, "the last step must be 100"),
        (
            {"version": "2", "percent": 5, "promotion": {"steps": [10, 100], "interval": "1m"}},
            "first promotion step",
        ),
        ({"version": "2", "promotion": {"steps": [100], "interval": "0s"}}, "between 1s and 1d"),
        (
            {"version": "2", "promotion": {"steps": [100], "interval": "1m", "gates": {"minAgreement": 0.9}}},
            "minAgreement needs mirror: true",
        ),
        (
            {"version": "2", "promotion": {"steps": [100], "interval": "1m", "gates": {"maxErrorRate": 2}}},
            "spec.canary.promotion.gates.maxErrorRate: Invalid value: 2",
        ),
    ],
)
def test_the_api_server_refuses_a_canary_naming_the_field(
    objs: Objects, canary_spec: Any, words: str
) -> None:
    assert words in refusal(objs, **canary_spec)
