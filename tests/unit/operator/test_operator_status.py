"""Status from reality: aggregate Ready, workload assessment, phases."""

from __future__ import annotations

import pytest
from helpers import deployment, pod

from mlmodel_operator.status.conditions import Cond, aggregate_ready, stamp
from mlmodel_operator.status.phase import compute_phase
from mlmodel_operator.status.workload import assess, init_summaries, pod_failure

NEW, OLD = "new-hash", "old-hash"
POSITIVE = ("PackageResolved", "Progressing", "Available")


def conds(**status: str) -> list[Cond]:
    return [Cond(t, s, f"{t}Reason", f"{t} message") for t, s in status.items()]


def test_ready_when_all_positive_true_and_not_stopped() -> None:
    ready = aggregate_ready(
        conds(PackageResolved="True", Progressing="True", Available="True", Stopped="False"), POSITIVE
    )
    assert (ready.status, ready.reason) == ("True", "Ready")


def test_ready_takes_reason_of_first_failing_condition() -> None:
    ready = aggregate_ready(
        conds(PackageResolved="True", Progressing="False", Available="False", Stopped="False"), POSITIVE
    )
    assert (ready.status, ready.reason) == ("False", "ProgressingReason")


def test_stopped_makes_ready_false() -> None:
    ready = aggregate_ready(
        conds(PackageResolved="True", Progressing="True", Available="True", Stopped="True"), POSITIVE
    )
    assert (ready.status, ready.reason) == ("False", "StoppedReason")


def test_missing_condition_is_unknown() -> None:
    assert aggregate_ready(conds(PackageResolved="True"), POSITIVE).status == "Unknown"


def test_stamp_keeps_transition_time_while_status_is_unchanged() -> None:
    prev = [{"type": "Ready", "status": "True", "lastTransitionTime": "T0"}]
    assert stamp(Cond("Ready", "True", "r"), 2, "T1", prev)["lastTransitionTime"] == "T0"
    assert stamp(Cond("Ready", "False", "r"), 2, "T1", prev)["lastTransitionTime"] == "T1"
    assert stamp(Cond("Ready", "True", "r"), 2, "T1", prev)["observedGeneration"] == 2


def test_running_when_rolled_out() -> None:
    work = assess(deployment(), [pod(NEW)], NEW, 1)
    assert work.phase == "Running"
    assert work.available.is_true and work.progressing.is_true


def test_deploying_while_generation_not_observed() -> None:
    work = assess(deployment(generation=2, observed=1), [pod(OLD)], NEW, 1)
    assert work.phase == "Deploying"
    assert work.available.is_true  # the old pod still serves


def test_no_deployment_yet() -> None:
    work = assess(None, [], NEW, 1)
    assert (work.phase, work.available.status) == ("Deploying", "False")


FAILED_FETCH = {
    "name": "fetch-fruit",
    "state": {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "message": '{"error": "sha256 mismatch for x: expected aaa, got bbb"}',
        }
    },
}
INIT_LOOP = {
    "name": "fetch-fruit",
    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    "lastState": {"terminated": {"exitCode": 1, "message": "boom"}},
}
SERVER_LOOP = {
    "name": "server",
    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m"}},
}


@pytest.mark.parametrize(
    "pod_kw, reason",
    [
        ({"init": [FAILED_FETCH]}, "InitContainerFailed"),
        ({"init": [INIT_LOOP]}, "InitContainerFailed"),
        ({"containers": [SERVER_LOOP]}, "CrashLoopBackOff"),
    ],
)
def test_new_pod_failure_with_old_pods_serving_is_degraded(pod_kw: dict, reason: str) -> None:
    dep = deployment(replicas=1, available=1, updated=1, total=2, generation=2, observed=2)
    work = assess(dep, [pod(OLD), pod(NEW, **pod_kw)], NEW, 1)
    assert work.phase == "Degraded"
    assert work.available.is_true
    assert (work.progressing.status, work.progressing.reason) == ("False", reason)


def test_init_failure_message_comes_from_fetch() -> None:
    failure = pod_failure(pod(NEW, init=[FAILED_FETCH]))
    assert failure is not None
    assert "sha256 mismatch" in failure[1] and "fetch-fruit" in failure[1]


def terminated(name: str, message: str, reason: str = "Error") -> dict:
    return {"name": name, "state": {"terminated": {"exitCode": 1, "reason": reason, "message": message}}}


@pytest.mark.parametrize(
    ("container", "message", "reason"),
    [
        (
            "init",
            '{"reason": "FetchNotFound", "error": "GET https://x/m.tflite: HTTP 404 Not Found"}',
            "FetchNotFound",
        ),
        (
            "init",
            '{"reason": "FetchUnreachable", "error": "GET https://x/m.tflite: timed out"}',
            "FetchUnreachable",
        ),
        (
            "server",
            '{"reason": "LabelsMismatch", "error": "mlmodel serve: error: labels file has 2 labels"}',
            "LabelsMismatch",
        ),
        (
            "server",
            '{"reason": "ModelLoadFailed", "error": "mlmodel serve: error: model file cannot be loaded"}',
            "ModelLoadFailed",
        ),
        # an older server image: no reason stated, the log's last line
        ("server", "mlmodel serve: error: self-test: output 'p' differs", "SelfTestFailed"),
        ("server", "Traceback ...\nRuntimeError: boom", "CrashLoopBackOff"),
        # a reason the API server would refuse is not passed on
        ("init", '{"reason": "no such reason!", "error": "x"}', "InitContainerFailed"),
        # the kubelet kept only the head of a long message: the reason still reads
        (
            "init",
            '{"reason": "FetchNotFound", "error": "GET https://x/' + "a" * 300 + "/m.tflite: HTTP 4",
            "FetchNotFound",
        ),
    ],
)
def test_a_failure_shows_the_reason_the_container_stated(container: str, message: str, reason: str) -> None:
    """`mlmodel fetch` and `mlmodel serve` state a stable reason in the termination message;
    status shows it, with their one line as the message."""
    status = terminated("fetch-fruit" if container == "init" else "server", message)
    failure = pod_failure(
        pod(NEW, **({"init": [status]} if container == "init" else {"containers": [status]}))
    )
    assert failure is not None and failure[0] == reason
    assert message.rsplit(": ", 1)[-1].strip('"}') in failure[1]


def test_an_oom_kill_wins_over_a_stated_reason() -> None:
    status = terminated("server", '{"reason": "ModelLoadFailed", "error": "x"}', reason="OOMKilled")
    failure = pod_failure(pod(NEW, containers=[status]))
    assert failure is not None and failure[0] == "OOMKilled"


def test_failure_with_nothing_serving_is_failed() -> None:
    work = assess(deployment(available=0), [pod(NEW, init=[FAILED_FETCH])], NEW, 1)
    assert work.phase == "Failed"
    assert (work.available.status, work.available.reason) == ("False", "InitContainerFailed")


def test_old_pod_failures_do_not_count() -> None:
    work = assess(deployment(), [pod(OLD, containers=[SERVER_LOOP]), pod(NEW)], NEW, 1)
    assert work.phase != "Degraded"


def test_progress_deadline_exceeded_is_degraded() -> None:
    deadline = [
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": "ReplicaSet has timed out progressing.",
        }
    ]
    dep = deployment(available=1, updated=1, total=2, conditions=deadline)
    work = assess(dep, [pod(OLD), pod(NEW)], NEW, 1)
    assert (work.phase, work.progressing.reason) == ("Degraded", "ProgressDeadlineExceeded")


def test_unschedulable_pod() -> None:
    p = pod(NEW)
    p["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes"}
    ]
    assert pod_failure(p) == ("Unschedulable", "0/2 nodes")


def test_tensor_summary_is_read_from_successful_init_containers() -> None:
    ok = {
        "name": "fetch-fruit",
        "state": {"terminated": {"exitCode": 0, "message": '{"sha256": "a", "inputs": [{"name": "image"}]}'}},
    }
    assert init_summaries([pod(NEW, init=[ok])])["fetch-fruit"]["inputs"][0]["name"] == "image"
    assert init_summaries([pod(NEW, init=[FAILED_FETCH])]) == {}


@pytest.mark.parametrize(
    "kw, phase",
    [
        ({"stopped": True, "resolved": False}, "Stopped"),
        (
            {
                "resolved": False,
                "resolve_reason": "ChecksumMismatch",
                "has_deployment": True,
                "serving": True,
            },
            "Degraded",
        ),
        ({"resolved": False, "resolve_reason": "ChecksumMismatch"}, "Failed"),
        ({"resolved": False, "resolve_reason": "PackageNotFound"}, "Pending"),
        ({}, "Running"),
    ],
)
def test_phase(kw: dict, phase: str) -> None:
    args = {
        "stopped": False,
        "resolved": True,
        "resolve_reason": "Resolved",
        "has_deployment": False,
        "serving": False,
        "workload_phase": "Running",
        **kw,
    }
    assert compute_phase(**args) == phase
