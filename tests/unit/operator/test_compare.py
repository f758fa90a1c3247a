"""`covers`: an idle resync writes nothing, a hand edit is still repaired."""

from __future__ import annotations

from mlmodel_operator.k8s.compare import covers, with_manifest_hash

DESIRED = {
    "metadata": {"name": "a", "labels": {"x": "1"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "s", "image": "i"}]}}},
}


def live(**spec_changes):
    obj = {
        "metadata": {"name": "a", "labels": {"x": "1"}, "resourceVersion": "7", "managedFields": []},
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": 600,
            "template": {
                "spec": {"containers": [{"name": "s", "image": "i", "terminationMessagePath": "/dev/t"}]}
            },
        },
        "status": {"readyReplicas": 2},
    }
    obj["spec"].update(spec_changes)
    return obj


def test_server_defaults_and_status_do_not_count_as_drift():
    assert covers(live(), DESIRED)


def test_a_hand_edit_is_drift():
    assert not covers(live(replicas=5), DESIRED)
    edited = live()
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    assert not covers(edited, DESIRED)


def test_missing_fields_and_list_lengths_are_drift():
    assert not covers({"metadata": {"name": "a"}}, DESIRED)
    extra = live()
    extra["spec"]["template"]["spec"]["containers"].append({"name": "sidecar"})
    assert not covers(extra, DESIRED)


def test_a_field_dropped_from_the_manifest_is_drift_through_the_manifest_hash():
    with_env = {**DESIRED, "env": [{"name": "TOKEN"}]}
    stamped = with_manifest_hash(with_env)["metadata"]
    applied = {**live(), "env": with_env["env"], "metadata": {**live()["metadata"], **stamped}}
    assert covers(applied, with_manifest_hash(with_env))  # unchanged: no write
    assert covers(applied, DESIRED)  # a plain subset check misses the removal...
    assert not covers(applied, with_manifest_hash(DESIRED))  # ...the hash does not
