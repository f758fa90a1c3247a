"""Control plane faults on a real control plane of their own (fault_fixtures.py).

* the operator SIGKILLed while it reconciles 100 MLModelServices, some deleted and
  some changed while it is down: after a restart everything converges, with
  exactly one Deployment and Service per service and nothing left of the deleted;
* kube-apiserver and etcd restarted under a running operator: it reconnects by
  itself and handles what changed after the restart;
* two replicas with kopf peering: one acts, the standby takes over when the
  active one is SIGKILLed.

Each test prints its measurements as one `FIGURES ...` line (run with `-s`).
They are slow (tens of seconds each) but stay in the default run.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fault_fixtures import Operators, figures, log_lines
from operator_fixtures import Objects, OperatorProcess
from test_operator import mlmodel, setup_fruit

from localcluster import LocalCluster, wait_until
from mlmodel_operator.k8s.client import Kube

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
FINALIZER = "mlmodel.dev/kopf-finalizer"
MANAGED = "app.kubernetes.io/managed-by=mlmodel-operator"


def services(objs: Objects) -> list[dict[str, Any]]:
    return objs.list("MLModelService", api="mlmodel.dev/v1alpha1")


def converged(service: dict[str, Any]) -> bool:
    """Running, Ready and describing the current generation."""
    status = service.get("status") or {}
    generation = (service.get("metadata") or {}).get("generation")
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
    return (
        status.get("phase") == "Running"
        and ready.get("status") == "True"
        and status.get("observedGeneration") == generation
    )


def owner_names(items: list[dict[str, Any]]) -> Counter[str]:
    """How many children each owner has, by the controller owner reference."""
    return Counter(
        ref["name"]
        for item in items
        for ref in item["metadata"].get("ownerReferences") or []
        if ref.get("controller")
    )


def instances(items: list[dict[str, Any]]) -> set[str]:
    return {i["metadata"]["labels"]["app.kubernetes.io/instance"] for i in items}


def pod_owners(objs: Objects) -> list[str]:
    """The owner of every live (not terminating) pod, sorted: one entry per pod."""
    pods = [p for p in objs.list("Pod", selector=MANAGED) if not p["metadata"].get("deletionTimestamp")]
    return sorted(p["metadata"]["labels"]["app.kubernetes.io/instance"] for p in pods)


# --- 1. the operator killed in the middle of 100 reconciles ----------------------------------

N_SERVICES = 100
KILL_AFTER = 25  # services with a status when the operator is killed


def test_operator_killed_mid_reconcile_converges_without_duplicates_or_orphans(
    fault_kube: Any, fault_ns: str, operators: Operators
) -> None:
    args = ("--namespace", fault_ns, "--standalone")
    env = {"MLMODEL_OPERATOR_RESYNC_SECONDS": "30"}  # 100 objects: no 2 s resync storm
    objs = Objects(fault_kube, fault_ns)
    first = operators.start("first", *args, **env)
    setup_fruit(objs)
    names = [f"svc-{i:03d}" for i in range(N_SERVICES)]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: objs.create(mlmodel(n)), names))
    created_s = time.monotonic() - started
    objs.wait(
        lambda: sum(bool(s.get("status")) for s in services(objs)) >= KILL_AFTER,
        f"{KILL_AFTER} services reconciled",
        timeout=120,
    )
    killed_at = operators.kill(first)
    at_kill = services(objs)
    reconciled_at_kill = sum(bool(s.get("status")) for s in at_kill)
    assert reconciled_at_kill < N_SERVICES, "the operator finished before it could be killed"

    # While it is down: delete reconciled and unreconciled services, change some others.
    deleted = names[:5] + names[-5:]
    changed = names[10:15]
    for name in deleted:
        objs.delete("MLModelService", name)
    for name in changed:
        patch = {"spec": {"attributes": {"num_threads": 2}}}
        objs.patch("MLModelService", name, patch)
    kept = sorted(set(names) - set(deleted))

    second = operators.start("second", *args, **env)
    restarted_at = time.monotonic()
    objs.op = second
    objs.wait(
        lambda: sum(map(converged, services(objs))) == len(kept) and len(services(objs)) == len(kept),
        "every remaining service converged and the deleted ones gone",
        timeout=240,
    )
    converge_s = time.monotonic() - restarted_at
    objs.wait(lambda: pod_owners(objs) == kept, "exactly one live pod per service", timeout=120)
    # The garbage collector removes the deleted services' children on its own schedule.
    objs.wait(
        lambda: all(
            instances(objs.list(kind, api=api, selector=MANAGED)) <= set(kept)
            for kind, api in (("Deployment", "apps/v1"), ("Service", "v1"), ("ReplicaSet", "apps/v1"))
        ),
        "the deleted services' children garbage-collected",
        timeout=120,
    )
    gc_s = time.monotonic() - restarted_at

    deployments = objs.list("Deployment", api="apps/v1", selector=MANAGED)
    svcs = objs.list("Service", selector=MANAGED)
    replicasets = objs.list("ReplicaSet", api="apps/v1", selector=MANAGED)
    duplicates = sum(n - 1 for n in owner_names(deployments).values() if n > 1) + sum(
        n - 1 for n in owner_names(svcs).values() if n > 1
    )
    orphans = (instances(deployments) | instances(svcs) | instances(replicasets)) - set(kept)
    active_rs = owner_names([r for r in replicasets if r["spec"].get("replicas")])
    figures(
        {
            "test": "operator-kill",
            "services": N_SERVICES,
            "create_s": round(created_s, 1),
            "killed_after_s": round(killed_at - started, 1),
            "reconciled_at_kill": reconciled_at_kill,
            "converge_after_restart_s": round(converge_s, 1),
            "pods_settled_s": round(gc_s, 1),
            "duplicates": duplicates,
            "orphans": len(orphans),
            "kube_retries": len(log_lines(second, "retrying")),
        }
    )
    assert duplicates == 0
    assert sorted(owner_names(deployments)) == kept and sorted(owner_names(svcs)) == kept
    assert orphans == set(), f"children of deleted services left: {orphans}"
    assert set(active_rs.values()) == {1}, "exactly one scaled-up ReplicaSet per Deployment"
    for service in services(objs):  # kopf's own, or none yet: nothing stale or foreign
        assert set(service["metadata"].get("finalizers") or []) <= {FINALIZER}
    for name in changed:
        template = objs.get("Deployment", f"{name}-mlmodel", api="apps/v1")["spec"]["template"]  # type: ignore[index]
        args_ = template["spec"]["containers"][0]["args"]
        assert args_[args_.index("--num-threads") + 1] == "2"


# --- 2. kube-apiserver and etcd restarted under a running operator ---------------------------


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_operator_reconnects_after_a_restart(
    component: str, fault_cluster: LocalCluster, fault_kube: Any, fault_ns: str, operators: Operators
) -> None:
    op = operators.start(
        component, "--namespace", fault_ns, "--standalone", MLMODEL_OPERATOR_RESYNC_SECONDS="5"
    )
    objs = Objects(fault_kube, fault_ns, op)
    setup_fruit(objs, mlmodel("before"))
    objs.wait_phase("MLModelService", "before", "Running")
    mark = len(op.log.read_text(errors="replace").splitlines())

    # A crash: SIGKILL, five seconds down (well inside kwok's 40 s node leases), start again.
    timings = fault_cluster.restart(component, kill=True, down_for=5)
    back_at = time.monotonic()
    objs.create(mlmodel("after"))
    objs.patch("MLModelService", "before", {"spec": {"attributes": {"num_threads": 2}}})
    objs.wait(lambda: objs.status("MLModelService", "after"), "the new service to get a status", 120)
    reconnect_s = time.monotonic() - back_at
    objs.wait(
        lambda: objs.status("MLModelService", "before").get("observedGeneration") == 2,
        "the change to be seen",
        120,
    )
    # Ready needs the controller-manager too, which can take a minute to recover itself.
    for name in ("before", "after"):
        objs.wait(lambda n=name: converged(objs.get("MLModelService", n) or {}), f"{name} Ready", 240)
    converge_s = time.monotonic() - back_at
    op.check_alive()
    lines = op.log.read_text(errors="replace").splitlines()[mark:]
    restarts = [line for line in lines if "kopf stopped on an error" in line]
    figures(
        {
            "test": f"{component}-restart",
            "down_s": timings["down"],
            "first_status_after_restart_s": round(reconnect_s, 1),
            "ready_after_restart_s": round(converge_s, 1),
            "kube_retries": sum("retrying" in line for line in lines),
            "kopf_retries": sum("Request attempt" in line for line in lines),
            "kopf_restarts": len(restarts),
        }
    )
    assert restarts == [], "kopf gave up and had to be restarted"


# --- 3. two replicas with peering: one acts, the other takes over ----------------------------


def peers(api: Kube, namespace: str, name: str) -> dict[str, Any]:
    found = api.get(f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings/{name}")
    return dict((found or {}).get("status") or {})


PAUSE_SETTLE_S = 3


def paused(op: OperatorProcess) -> bool:
    """kopf starts a peer paused; one that was alone first resumed, then paused again."""
    states = log_lines(op, "operations")
    return not states or "Pausing operations" in states[-1]


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_standby_replica_takes_over_when_the_active_one_dies(
    how: str, fault_kube: Any, fault_ns: str, operators: Operators
) -> None:
    args = ("--namespace", fault_ns, "--peering", "mlmodel-ha")
    env = {"MLMODEL_OPERATOR_RESYNC_SECONDS": "5"}  # priority unset: each draws its own
    a = operators.start("a", *args, POD_ID="op-a", **env)
    b = operators.start("b", *args, POD_ID="op-b", **env)
    status = wait_until(
        lambda: (s := peers(fault_kube, fault_ns, "mlmodel-ha")).keys() >= {"op-a", "op-b"} and s,
        what="both replicas in the KopfPeering (created by the operator)",
        timeout=60,
    )
    assert status["op-a"]["priority"] != status["op-b"]["priority"]
    lifetime = status["op-a"]["lifetime"]
    active, standby = (a, b) if status["op-a"]["priority"] > status["op-b"]["priority"] else (b, a)
    wait_until(lambda: paused(standby), what="the standby to pause", timeout=60)
    # A peer that was alone first and has just paused still finishes the events its watch
    # streams already delivered (well under a second here); let that window close.
    time.sleep(PAUSE_SETTLE_S)

    objs = Objects(fault_kube, fault_ns)
    setup_fruit(objs, mlmodel("one"))
    objs.wait_phase("MLModelService", "one", "Running")
    assert log_lines(active, f"{fault_ns}/one: status written")
    assert not log_lines(standby, f"{fault_ns}/one: status written"), "the standby acted"

    mark = len(standby.log.read_text(errors="replace"))
    killed_at = operators.kill(active) if how == "SIGKILL" else operators.terminate(active)
    objs.create(mlmodel("two"))
    objs.wait(lambda: objs.status("MLModelService", "two"), "the standby to take over", 120)
    takeover_s = time.monotonic() - killed_at
    objs.wait_phase("MLModelService", "two", "Running", timeout=120)
    after = standby.log.read_text(errors="replace")[mark:]
    assert "Resuming operations" in after and f"{fault_ns}/two: status written" in after
    standby.check_alive()
    figures({"test": f"peering-takeover-{how}", "lifetime_s": lifetime, "takeover_s": round(takeover_s, 1)})
    # A dead peer is trusted for its lifetime; one that exits cleanly leaves the peering at once.
    assert takeover_s < (lifetime + 20 if how == "SIGKILL" else 10)
