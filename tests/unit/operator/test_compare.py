"""`covers`: an idle resync writes nothing, a hand edit is still repaired."""

from __future__ import annotations

from mlmodel_operator.k8s.compare import covers

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
