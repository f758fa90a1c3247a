"""Security options on the real control plane: the bearer-token Secret in the pods (admitted
under the namespace's `restricted` Pod Security Standard, and serving only with the token
when run as local processes), the NetworkPolicy child following `spec.networkPolicy`, the
http opt-in of ModelPackage URLs, a URL on a server with a private CA (`source.caConfigMap`),
and the CEL rules that name those fields."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from operator_fixtures import Objects, OperatorProcess
from test_operator_crds import dry_run, mlms, mp
from test_pod_contract import fruit_objects, package_tarball, read_configmap
from tests.conftest import IMAGES, PACKAGES
from tests.support.podrunner import run_pod
from tests.support.tls import Authority, https_server

from localcluster import LocalCluster
from mlmodel_operator.builders.network import policy_path

pytestmark = pytest.mark.cluster
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
TOKEN = "s3cret-token"
URL = "https://artifacts.corp.example/m.tflite"


@pytest.fixture
def objs(kube: Any, namespace: str, mlmodel_operator: OperatorProcess) -> Objects:
    return Objects(kube, namespace, mlmodel_operator)


def with_spec(objects: list[dict[str, Any]], **spec: Any) -> list[dict[str, Any]]:
    """The same objects, with `spec` merged into the MLModelService and VisionService."""
    serving = ("MLModelService", "VisionService")
    return [{**o, "spec": {**o["spec"], **spec}} if o["kind"] in serving else o for o in objects]


def deployment_pod(objs: Objects, child: str) -> dict[str, Any]:
    deployment = objs.get("Deployment", child, api="apps/v1")
    assert deployment is not None
    return dict(deployment["spec"]["template"]["spec"])


def pods_admitted(objs: Objects, owner: str) -> bool:
    """Pods exist only if Pod Security admission accepted the template."""
    pods = objs.list("Pod", selector=f"app.kubernetes.io/instance={owner}")
    return bool(pods) and all(p["status"].get("phase") == "Running" for p in pods)


# --- spec.auth -----------------------------------------------------------------------------


def test_auth_secret_is_mounted_and_the_pod_serves_only_with_the_token(
    objs: Objects, kube: Any, tmp_path: Path
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "fruit-token"},
        "data": {"bearer": base64.b64encode(f"{TOKEN}\n".encode()).decode(), "other": "eA=="},
    }
    kube.request("POST", f"/api/v1/namespaces/{objs.ns}/secrets", body=secret)
    auth = {"secretName": "fruit-token", "key": "bearer"}
    for obj in with_spec(fruit_objects(package_tarball(PACKAGES / "fruit_classifier")), auth=auth):
        objs.create(obj)
    objs.wait_phase("MLModelService", "fruit", "Running")
    objs.wait_phase("VisionService", "fruit-vision", "Running")
    for owner, child in (("fruit", "fruit-mlmodel"), ("fruit-vision", "fruit-vision-vision")):
        pod = deployment_pod(objs, child)
        [volume] = [v for v in pod["volumes"] if "secret" in v]
        assert volume["secret"]["secretName"] == "fruit-token"
        assert volume["secret"]["items"] == [{"key": "bearer", "path": "token"}]
        server = pod["containers"][0]
        assert {"name": "auth-token", "mountPath": "/etc/mlmodel-auth", "readOnly": True} in server[
            "volumeMounts"
        ]
        assert server["args"][server["args"].index("--auth-token-file") + 1] == "/etc/mlmodel-auth/token"
        assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        objs.wait(lambda owner=owner: pods_admitted(objs, owner), f"pods of {owner} under PSS restricted")

    def read_secret(name: str) -> dict[str, Any]:
        return dict(kube.get(f"/api/v1/namespaces/{objs.ns}/secrets/{name}") or {})

    # run_pod waits for the readiness probe without a token: probes stay open.
    run = run_pod(deployment_pod(objs, "fruit-mlmodel"), tmp_path, read_configmap(objs), read_secret)
    try:
        url = f"{run.url}/v1/vision/fruit/classifications?n=1"
        image = {"content": (IMAGES / "red.png").read_bytes(), "timeout": 30}
        refused = httpx.post(url, headers={"Content-Type": "image/png"}, **image)  # type: ignore[arg-type]
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        headers = {"Content-Type": "image/png", "Authorization": f"Bearer {TOKEN}"}
        allowed = httpx.post(url, headers=headers, **image)  # type: ignore[arg-type]
        assert allowed.status_code == 200, allowed.text
        assert httpx.get(f"{run.url}/metrics", timeout=10).status_code == 200
    finally:
        run.stop()


# --- spec.networkPolicy ----------------------------------------------------------------------


# A real package: the operator refuses one whose files lack the service's model_path.
FRUIT_PACKAGE = package_tarball(PACKAGES / "fruit_classifier")


def network_policy(objs: Objects, name: str) -> dict[str, Any] | None:
    return objs.kube.get(policy_path(objs.ns, name))


def test_network_policy_is_created_updated_and_removed(objs: Objects) -> None:
    for obj in with_spec(fruit_objects(FRUIT_PACKAGE), networkPolicy={"enabled": True}):
        objs.create(obj)
    objs.wait_phase("MLModelService", "fruit", "Running")
    policy = objs.wait(lambda: network_policy(objs, "fruit-mlmodel"), "the NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "mlmodel-server",
        "app.kubernetes.io/instance": "fruit",
        "app.kubernetes.io/component": "mlmodel",
    }
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"mlmodel.dev/client": "true"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 8081}]
    ref = policy["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("MLModelService", "fruit", True)
    assert network_policy(objs, "fruit-vision-vision") is not None  # the VisionService has its own

    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    objs.patch("MLModelService", "fruit", {"spec": {"networkPolicy": {"allowFrom": [monitoring]}}})
    objs.wait(
        lambda: (network_policy(objs, "fruit-mlmodel") or {})["spec"]["ingress"][0]["from"] == [monitoring],
        "the NetworkPolicy to follow allowFrom",
    )

    objs.patch("MLModelService", "fruit", {"spec": {"networkPolicy": {"enabled": False}}})
    objs.wait(lambda: network_policy(objs, "fruit-mlmodel") is None, "the NetworkPolicy to be deleted")
    assert objs.get("Service", "fruit-mlmodel", api="v1") is not None
    assert network_policy(objs, "fruit-vision-vision") is not None  # the other owner's stays


def test_a_policy_we_do_not_own_is_left_alone(objs: Objects) -> None:
    mine = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "fruit-mlmodel"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    collection = policy_path(objs.ns, "fruit-mlmodel").rsplit("/", 1)[0]
    objs.kube.request("POST", collection, body=mine)
    for obj in fruit_objects(FRUIT_PACKAGE):
        objs.create(obj)
    objs.wait_phase("MLModelService", "fruit", "Running")
    objs.wait_phase("VisionService", "fruit-vision", "Running")
    assert network_policy(objs, "fruit-mlmodel") is not None


# --- http opt-in -------------------------------------------------------------------------------


def test_opted_in_http_url_reaches_the_init_container_flag(objs: Objects) -> None:
    source = {"url": "http://127.0.0.1:9/fruit.tflite", "allowInsecureHttp": True}
    objs.create({**mp({"version": "1", "sha256": SHA, "source": source}), "metadata": {"name": "fruit"}})
    objs.create(mlms("fruit"))
    objs.wait_phase("MLModelService", "fruit", "Running")
    [init] = deployment_pod(objs, "fruit-mlmodel")["initContainers"]
    assert init["args"][init["args"].index("--url") + 1 :][:2] == [source["url"], "--allow-insecure-http"]
    [entry] = objs.status("ModelPackage", "fruit")["versions"]
    assert entry["reason"] == "FetchUnreachable"  # tried (nothing listens), not refused


# --- a private CA (source.caConfigMap) ------------------------------------------------------


def package_reason(objs: Objects) -> str | None:
    versions = objs.status("ModelPackage", "fruit").get("versions") or [{}]
    return versions[0].get("reason")


def test_a_private_ca_url_is_verified_and_fetched_with_the_configmap_bundle(
    objs: Objects, tmp_path: Path
) -> None:
    corp, data = Authority("corp artifact CA"), package_tarball(PACKAGES / "fruit_classifier")
    www = tmp_path / "www"
    www.mkdir()
    (www / "fruit.tar.gz").write_bytes(data)
    with https_server(www, corp.server_context()) as base:
        source = {"url": f"{base}/fruit.tar.gz", "caConfigMap": {"name": "corp-ca"}}
        version = {"version": "1", "sha256": hashlib.sha256(data).hexdigest(), "source": source}
        package, service = fruit_objects(data)[1:3]
        objs.create({**package, "spec": {"versions": [version]}})
        objs.create(service)
        objs.wait(lambda: package_reason(objs) == "CABundleNotFound", "the missing bundle blocks the version")
        assert objs.get("Deployment", "fruit-mlmodel", api="apps/v1") is None
        ca = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "corp-ca"}}
        objs.create({**ca, "data": {"ca.crt": corp.pem}})
        objs.wait_phase("MLModelService", "fruit", "Running")
        assert package_reason(objs) == "Verified"  # the operator trusted the bundle too
        pod = deployment_pod(objs, "fruit-mlmodel")
        [init] = pod["initContainers"]
        assert init["args"][init["args"].index("--ca-file") + 1] == "/etc/mlmodel-ca/corp-ca/ca.crt"
        run = run_pod(pod, tmp_path / "pod", read_configmap(objs))  # fetches over https
    try:
        assert httpx.get(f"{run.url}/v2/models/fruit", timeout=10).status_code == 200
    finally:
        run.stop()


# --- CEL -----------------------------------------------------------------------------------


def peers(*allow: dict[str, Any]) -> dict[str, Any]:
    return {"enabled": True, "allowFrom": list(allow)}


CASES = {
    "http-needs-opt-in": (
        mp({"version": "1", "sha256": SHA, "source": {"url": "http://x/m.tflite"}}),
        ("spec.versions[0].source.url", "http:// URLs are refused unless source.allowInsecureHttp is true"),
    ),
    "opt-in-needs-url": (
        mp({"version": "1", "source": {"configMap": {"name": "c", "key": "k"}, "allowInsecureHttp": True}}),
        ("spec.versions[0].source.allowInsecureHttp", "applies to url sources only"),
    ),
    "ca-needs-url": (
        mp(
            {
                "version": "1",
                "source": {"configMap": {"name": "c", "key": "k"}, "caConfigMap": {"name": "ca"}},
            }
        ),
        ("spec.versions[0].source.caConfigMap", "caConfigMap applies to https:// url sources only"),
    ),
    "ca-needs-https": (
        mp(
            {
                "version": "1",
                "sha256": SHA,
                "source": {
                    "url": "http://x/m.tflite",
                    "allowInsecureHttp": True,
                    "caConfigMap": {"name": "ca"},
                },
            }
        ),
        ("spec.versions[0].source.caConfigMap", "caConfigMap applies to https:// url sources only"),
    ),
    "ca-name": (
        mp({"version": "1", "sha256": SHA, "source": {"url": URL, "caConfigMap": {"name": "Corp_CA"}}}),
        "spec.versions[0].source.caConfigMap.name",
    ),
    "auth-needs-secret": (mlms(auth={"key": "token"}), "spec.auth.secretName: Required value"),
    "auth-key": (mlms(auth={"secretName": "s", "key": "../x y"}), "spec.auth.key"),
    "auth-secret-name": (mlms(auth={"secretName": "Not_A_Name"}), "spec.auth.secretName"),
    "peer-ipblock-and-selector": (
        mlms(networkPolicy=peers({"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}})),
        "a peer is an ipBlock alone",
    ),
    "peer-empty": (mlms(networkPolicy=peers({})), "a peer is an ipBlock alone"),
    "peer-operator": (
        mlms(networkPolicy=peers({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}})),
        "spec.networkPolicy.allowFrom[0].podSelector.matchExpressions[0].operator",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_security_specs_are_refused_naming_the_field(
    mlmodel_crds: LocalCluster, namespace: str, case: str
) -> None:
    obj, expected = CASES[case]
    error = dry_run(mlmodel_crds, namespace, obj)
    for part in (expected,) if isinstance(expected, str) else expected:
        assert part in error, error


@pytest.mark.parametrize(
    "obj",
    [
        mp(
            {"version": "1", "sha256": SHA, "source": {"url": "http://x/m.tflite", "allowInsecureHttp": True}}
        ),
        mp({"version": "1", "sha256": SHA, "source": {"url": URL, "caConfigMap": {"name": "corp-ca"}}}),
        mlms(auth={"secretName": "fruit-token"}),
        mlms(networkPolicy={"enabled": True}),
        mlms(
            networkPolicy=peers(
                {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {}},
            )
        ),
    ],
    ids=["http-opt-in", "private-ca", "auth", "policy-default", "policy-peers"],
)
def test_good_security_specs_are_accepted(mlmodel_crds: LocalCluster, namespace: str, obj: dict) -> None:
    assert dry_run(mlmodel_crds, namespace, obj) == ""
