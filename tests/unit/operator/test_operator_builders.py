"""Child manifests: security profile, ownership, labels, init containers, pinning."""

from __future__ import annotations

import json

from helpers import SHA_A, SHA_B, inputs, owner, url_pkg

from mlmodel_operator.builders.children import (
    build_configmap,
    build_deployment,
    build_service,
    vision_config,
)
from mlmodel_operator.builders.common import ANNOTATION_PACKAGES, ANNOTATION_TEMPLATE_HASH
from mlmodel_operator.config import Config
from mlmodel_operator.packages import ResolvedPackage


def template(dep: dict) -> dict:
    return dep["spec"]["template"]


def test_pod_meets_restricted_pod_security_standard() -> None:
    pod = template(build_deployment(inputs(), 1))["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in pod["containers"] + pod["initContainers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["runAsNonRoot"] is True


def test_probes_and_ports() -> None:
    server = template(build_deployment(inputs(), 1))["spec"]["containers"][0]
    assert server["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8081, "protocol": "TCP"},
    ]
    args = server["args"]
    assert args[args.index("--port") + 1] == "8080" and args[args.index("--grpc-port") + 1] == "8081"
    assert server["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert server["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert "startupProbe" in server


def test_pods_stop_only_after_the_service_stopped_sending_them_requests() -> None:
    pod = template(build_deployment(inputs(), 1))["spec"]
    assert pod["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert pod["terminationGracePeriodSeconds"] == 30
    env = {"MLMODEL_OPERATOR_PRESTOP_SECONDS": "8", "MLMODEL_OPERATOR_TERMINATION_GRACE_SECONDS": "45"}
    pod = template(build_deployment(inputs(termination=Config.from_env(env).termination), 1))["spec"]
    server = pod["containers"][0]
    assert server["lifecycle"] == {"preStop": {"sleep": {"seconds": 8}}}
    assert pod["terminationGracePeriodSeconds"] == 45
    shutdown = int(server["args"][server["args"].index("--shutdown-timeout") + 1])
    assert shutdown > 0 and 8 + shutdown < 45  # requests in flight finish before the SIGKILL


def test_children_have_owner_references_and_labels() -> None:
    own = owner()
    for child in (build_deployment(inputs(own), 1), build_service(own, "mlmodel")):
        ref = child["metadata"]["ownerReferences"][0]
        assert ref == {
            "apiVersion": "mlmodel.dev/v1alpha1",
            "kind": "MLModelService",
            "name": "fruit",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
        labels = child["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "mlmodel-operator"
        assert labels["app.kubernetes.io/instance"] == "fruit"
        assert {
            "app.kubernetes.io/name",
            "app.kubernetes.io/component",
            "app.kubernetes.io/part-of",
        } <= labels.keys()
        assert child["metadata"]["name"] == "fruit-mlmodel"


def test_rolling_update_never_removes_a_serving_pod_first() -> None:
    dep = build_deployment(inputs(), 3)
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert dep["spec"]["replicas"] == 3


def test_package_paths_are_substituted_in_serve_args() -> None:
    args = template(build_deployment(inputs(), 1))["spec"]["containers"][0]["args"]
    assert args[:3] == ["serve", "--model", "/models/fruit_classifier/fruit_classifier.tflite"]
    assert args[args.index("--labels") + 1] == "/models/fruit_classifier/labels.txt"
    assert args[args.index("--num-threads") + 1] == "2"
    assert args[args.index("--name") + 1] == "fruit"


def test_extra_args_come_last() -> None:
    args = template(build_deployment(inputs(owner(args=["--pool-size", "4"])), 1))
    assert args["spec"]["containers"][0]["args"][-2:] == ["--pool-size", "4"]


def test_batching_becomes_the_servers_flags_and_is_off_without_it() -> None:
    def args(**spec: object) -> list[str]:
        return template(build_deployment(inputs(owner(**spec)), 1))["spec"]["containers"][0]["args"]

    assert "--max-batch-size" not in args()
    batched = args(batching={"maxBatchSize": 16, "maxBatchDelayMs": 2.5}, args=["--pool-size", "4"])
    at = batched.index("--max-batch-size")
    assert batched[at : at + 4] == ["--max-batch-size", "16", "--max-batch-delay", "0.0025"]
    assert batched[-2:] == ["--pool-size", "4"]  # the user's own flags still come last


def test_url_source_init_container() -> None:
    init = template(build_deployment(inputs(), 1))["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["fetch-fruit-classifier"]
    args = init[0]["args"]
    assert args[:3] == ["fetch", "--url", "https://x/fruit.tar.gz"]
    assert args[args.index("--sha256") + 1] == SHA_A
    assert args[args.index("--dest") + 1] == "/models/fruit_classifier"
    assert args[args.index("--summary-to") + 1] == "/dev/termination-log"


def test_configmap_and_pvc_sources_are_mounted_read_only() -> None:
    cm = ResolvedPackage(
        "fruit_classifier", "p", "latest", "1", SHA_A, {"configMap": {"name": "cm", "key": "m.tflite"}}
    )
    pvc = ResolvedPackage(
        "b", "q", "latest", "1", "", {"persistentVolumeClaim": {"claimName": "c", "path": "d/m.tar.gz"}}
    )
    pod = template(build_deployment(inputs(packages=(cm, pvc)), 1))["spec"]
    init = {c["name"]: c for c in pod["initContainers"]}
    cm_init = init["fetch-fruit-classifier"]
    assert cm_init["args"][1:3] == ["--file", "/sources/fruit_classifier/m.tflite"]
    assert init["fetch-b"]["args"][1:3] == ["--file", "/sources/b/d/m.tar.gz"]
    assert "--sha256" not in init["fetch-b"]["args"]  # unknown digest: not invented
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["src-fruit-classifier"]["configMap"] == {
        "name": "cm",
        "items": [{"key": "m.tflite", "path": "m.tflite"}],
    }
    assert vols["src-b"]["persistentVolumeClaim"] == {"claimName": "c", "readOnly": True}
    assert {
        "name": "src-fruit-classifier",
        "mountPath": "/sources/fruit_classifier",
        "readOnly": True,
    } in cm_init["volumeMounts"]
    assert "url" not in str(cm_init["args"])


def test_pinned_annotation_changes_only_with_resolved_digest() -> None:
    def notes(pkg: ResolvedPackage, **spec: object) -> dict:
        return template(build_deployment(inputs(owner(**spec), (pkg,)), 1))["metadata"]["annotations"]

    base = notes(url_pkg("1.0.0", SHA_A))
    assert json.loads(base[ANNOTATION_PACKAGES]) == [
        {"name": "fruit_classifier", "version": "1.0.0", "sha256": SHA_A}
    ]
    assert notes(url_pkg("1.0.0", SHA_A), replicas=5)[ANNOTATION_PACKAGES] == base[ANNOTATION_PACKAGES]
    moved = notes(url_pkg("1.1.0", SHA_B))
    assert moved[ANNOTATION_PACKAGES] != base[ANNOTATION_PACKAGES]
    assert moved[ANNOTATION_TEMPLATE_HASH] != base[ANNOTATION_TEMPLATE_HASH]


def test_template_hash_is_stable_for_the_same_inputs() -> None:
    a = template(build_deployment(inputs(), 1))["metadata"]["annotations"]
    b = template(build_deployment(inputs(), 4))["metadata"]["annotations"]
    assert a[ANNOTATION_TEMPLATE_HASH] == b[ANNOTATION_TEMPLATE_HASH]


def test_pod_knobs_are_passed_through() -> None:
    own = owner(
        nodeSelector={"pool": "cpu"},
        tolerations=[{"key": "k", "operator": "Exists"}],
        affinity={"nodeAffinity": {}},
        resources={"limits": {"memory": "1Gi"}},
        image="custom:2",
    )
    pod = template(build_deployment(inputs(own), 1))["spec"]
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["tolerations"][0]["key"] == "k"
    assert pod["affinity"] == {"nodeAffinity": {}}
    assert pod["containers"][0]["resources"] == {"limits": {"memory": "1Gi"}}
    assert pod["containers"][0]["image"] == "custom:2"
    assert pod["initContainers"][0]["image"] == "img:1"


def test_vision_pod_loads_the_model_in_process_with_its_config() -> None:
    vis = owner(
        "VisionService",
        "fruitvis",
        mlmodelName="fruit",
        attributes={"default_minimum_confidence": 0.5, "input_image_bgr": True},
    )
    text = vision_config(vis)
    assert json.loads(text) == {"default_minimum_confidence": 0.5, "input_image_bgr": True}
    dep = build_deployment(inputs(vis, component="vision", vision_config=text), 1)
    pod = template(dep)["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--vision-config") + 1] == "/etc/mlmodel/vision.json"
    assert args[args.index("--vision-name") + 1] == "fruitvis"
    assert args[args.index("--name") + 1] == "fruit"
    assert dep["metadata"]["name"] == "fruitvis-vision"
    assert {"name": "vision-config", "configMap": {"name": "fruitvis-vision"}} in pod["volumes"]
    cm = build_configmap(vis)
    assert cm["metadata"]["name"] == "fruitvis-vision"
    assert json.loads(cm["data"]["vision.json"])["input_image_bgr"] is True


def test_service_exposes_http_and_grpc() -> None:
    svc = build_service(owner(serviceType="NodePort"), "mlmodel")
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"},
        {"name": "grpc", "port": 8081, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"},
    ]
    assert svc["spec"]["selector"]["app.kubernetes.io/instance"] == "fruit"
