"""Security options of the serving kinds, as pure builders and CRD schema:
`spec.auth` (bearer token from a Secret), `spec.networkPolicy`, and the http opt-in of
ModelPackage URL sources (fetch flag, verification, CEL rule)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import SHA_A, inputs, owner, url_pkg

from mlmodel_operator import verify
from mlmodel_operator.builders import network
from mlmodel_operator.builders.children import build_deployment
from mlmodel_operator.builders.common import ANNOTATION_TEMPLATE_HASH
from mlmodel_operator.builders.pod import fetch_container
from mlmodel_operator.config import Config
from mlmodel_operator.crdgen.kinds import mlmodel_service, model_package, vision_service
from mlmodel_operator.handlers.networkpolicy import sync_network_policy
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.k8s.client import Kube
from mlmodel_operator.packages import ResolvedPackage, resolve_one

# --- spec.auth ---------------------------------------------------------------------------


def pod_spec(**spec: Any) -> dict[str, Any]:
    dep = build_deployment(inputs(owner(**spec)), 1)
    return dict(dep["spec"]["template"]["spec"])


def server(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(pod["containers"][0])


def test_auth_is_off_by_default() -> None:
    pod = pod_spec()
    assert "--auth-token-file" not in server(pod)["args"]
    assert not [v for v in pod["volumes"] if "secret" in v]


def test_auth_mounts_only_the_key_read_only_and_passes_the_flag() -> None:
    pod = pod_spec(auth={"secretName": "fruit-token", "key": "bearer"})
    [volume] = [v for v in pod["volumes"] if "secret" in v]
    assert volume == {
        "name": "auth-token",
        "secret": {
            "secretName": "fruit-token",
            "items": [{"key": "bearer", "path": "token"}],
            "defaultMode": 0o440,
        },
    }
    mounts = {m["name"]: m for m in server(pod)["volumeMounts"]}
    assert mounts["auth-token"] == {"name": "auth-token", "mountPath": "/etc/mlmodel-auth", "readOnly": True}
    args = server(pod)["args"]
    assert args[args.index("--auth-token-file") + 1] == "/etc/mlmodel-auth/token"
    # Only the server sees the token: no init container mounts it.
    assert all(m["name"] != "auth-token" for c in pod["initContainers"] for m in c["volumeMounts"])


def test_auth_key_defaults_to_token() -> None:
    pod = pod_spec(auth={"secretName": "s"})
    [volume] = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["items"] == [{"key": "token", "path": "token"}]


def test_auth_keeps_probes_unauthenticated_and_the_pod_restricted() -> None:
    pod = pod_spec(auth={"secretName": "s"})
    probes = [server(pod)[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")]
    assert probes == ["/v2/health/ready", "/v2/health/ready", "/v2/health/live"]
    assert all("httpHeaders" not in server(pod)[p]["httpGet"] for p in ("readinessProbe", "livenessProbe"))
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["fsGroup"] == 65532
    assert server(pod)["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False


def test_auth_flag_comes_before_user_args_and_vision_mounts_do_not_clash() -> None:
    own = owner("VisionService", name="vis", auth={"secretName": "s"}, args=["--log-level", "debug"])
    dep = build_deployment(inputs(own, component="vision", vision_config="{}"), 1)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[-2:] == ["--log-level", "debug"] and args.index("--auth-token-file") < len(args) - 2
    paths = [m["mountPath"] for m in container["volumeMounts"]]
    assert "/etc/mlmodel" in paths and "/etc/mlmodel-auth" in paths  # siblings, not nested


def test_changing_the_secret_reference_rolls_the_pods() -> None:
    def template_hash(**spec: Any) -> str:
        dep = build_deployment(inputs(owner(**spec)), 1)
        return str(dep["spec"]["template"]["metadata"]["annotations"][ANNOTATION_TEMPLATE_HASH])

    assert template_hash(auth={"secretName": "a"}) != template_hash(auth={"secretName": "b"})
    assert template_hash() != template_hash(auth={"secretName": "a"})


# --- spec.networkPolicy -------------------------------------------------------------------


def test_network_policy_is_off_by_default() -> None:
    assert network.build_network_policy(owner(), "mlmodel") is None
    assert network.build_network_policy(owner(networkPolicy={"enabled": False}), "mlmodel") is None


def test_network_policy_default_admits_labelled_clients_of_the_namespace() -> None:
    policy = network.build_network_policy(owner(networkPolicy={"enabled": True}), "mlmodel")
    assert policy is not None
    assert (policy["apiVersion"], policy["kind"]) == ("networking.k8s.io/v1", "NetworkPolicy")
    assert policy["metadata"]["name"] == "fruit-mlmodel"
    assert policy["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert policy["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlmodel-operator"
    spec = policy["spec"]
    assert spec["podSelector"] == {
        "matchLabels": {
            "app.kubernetes.io/name": "mlmodel-server",
            "app.kubernetes.io/instance": "fruit",
            "app.kubernetes.io/component": "mlmodel",
        }
    }
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"mlmodel.dev/client": "true"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 8081}],
        }
    ]


def test_network_policy_selects_the_deployments_pods() -> None:
    own = owner(networkPolicy={"enabled": True})
    policy = network.build_network_policy(own, "mlmodel")
    dep = build_deployment(inputs(own), 1)
    assert policy is not None
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()


def test_network_policy_passes_listed_peers_through() -> None:
    peers = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}},
        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
    ]
    policy = network.build_network_policy(
        owner(networkPolicy={"enabled": True, "allowFrom": peers}), "mlmodel"
    )
    assert policy is not None and policy["spec"]["ingress"][0]["from"] == peers


def test_network_policy_never_produces_an_allow_all_rule() -> None:
    """An empty `from` would admit everyone; empty or field-less peers fall back to the default."""
    for allow in ([], [{}], [{"somethingElse": 1}]):
        own = owner(networkPolicy={"enabled": True, "allowFrom": allow})
        policy = network.build_network_policy(own, "mlmodel")
        assert policy is not None
        assert policy["spec"]["ingress"][0]["from"] == [
            {"podSelector": {"matchLabels": {network.CLIENT_LABEL: "true"}}}
        ]


def test_network_policy_admits_the_activator_to_a_service_that_wakes() -> None:
    """Without this rule, a policy would keep the activator's forwarded requests out of the
    woken pods: every held request would time out."""
    own = owner(networkPolicy={"enabled": True}, wakeOnRequest=True)
    policy = network.build_network_policy(own, "mlmodel", activator_namespace="mlmodel-system")
    assert policy is not None
    assert policy["spec"]["ingress"][1] == {
        "from": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlmodel-system"}},
                "podSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/component": "activator",
                        "app.kubernetes.io/part-of": "mlmodel-operator",
                    }
                },
            }
        ],
        "ports": [{"protocol": "TCP", "port": 8080}],
    }
    for not_waking, namespace in ((owner(networkPolicy={"enabled": True}), "mlmodel-system"), (own, None)):
        policy = network.build_network_policy(not_waking, "mlmodel", activator_namespace=namespace)
        assert policy is not None and len(policy["spec"]["ingress"]) == 1


def test_vision_policy_is_its_own_child() -> None:
    own = owner("VisionService", name="vis", networkPolicy={"enabled": True})
    policy = network.build_network_policy(own, "vision")
    assert policy is not None and policy["metadata"]["name"] == "vis-vision"
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "vision"


class FakeKube:
    """Records requests; `objects` are what GET returns, by path."""

    def __init__(self, objects: dict[str, dict[str, Any]] | None = None) -> None:
        self.objects = objects or {}
        self.calls: list[tuple[str, str, Any]] = []

    def get(self, path: str) -> dict[str, Any] | None:
        self.calls.append(("GET", path, None))
        return self.objects.get(path)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        return Kube.apply(self, obj)  # type: ignore[arg-type]  # the real path and query

    def request(self, method: str, path: str, **kw: Any) -> Any:
        self.calls.append((method, path, kw))
        return kw.get("body") if method == "PATCH" else None


PATH = "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/fruit-mlmodel"


def runtime(kube: FakeKube, *watched: dict[str, Any]) -> Runtime:
    """A runtime whose watch store holds `watched` (what the NetworkPolicy watch delivered)."""
    rt = Runtime(Config(), kube, lambda: None, lambda *a: None)  # type: ignore[arg-type, return-value]
    for body in watched:
        rt.store.put(body)
    return rt


def test_sync_applies_the_policy_server_side() -> None:
    kube = FakeKube()
    sync_network_policy(runtime(kube), owner(networkPolicy={"enabled": True}), "mlmodel")
    [read, (method, path, kw)] = kube.calls
    assert read[:2] == ("GET", PATH) and (method, path) == ("PATCH", PATH)
    assert kw["content_type"] == "application/apply-patch+yaml"
    assert kw["query"] == {"fieldManager": "mlmodel-operator", "force": "true"}
    assert kw["body"]["kind"] == "NetworkPolicy"


def test_sync_sends_no_request_when_the_watched_policy_already_matches() -> None:
    desired = owner(networkPolicy={"enabled": True})
    first = FakeKube()
    sync_network_policy(runtime(first), desired, "mlmodel")
    applied = first.calls[-1][2]["body"]
    kube = FakeKube()
    sync_network_policy(runtime(kube, {**applied, "status": {}}), desired, "mlmodel")
    assert kube.calls == []


def _policy(uid: str, refs: list[dict[str, Any]]) -> dict[str, Any]:
    meta = {"name": "fruit-mlmodel", "namespace": "ns", "uid": uid, "ownerReferences": refs}
    return {"kind": "NetworkPolicy", "metadata": meta}


def test_sync_deletes_only_our_policy_when_disabled() -> None:
    kube = FakeKube()
    rt = runtime(kube, _policy("np-1", [{"uid": "uid-1", "controller": True}]))
    sync_network_policy(rt, owner(), "mlmodel")
    assert kube.calls[-1][:2] == ("DELETE", PATH)
    assert kube.calls[-1][2]["body"]["preconditions"] == {"uid": "np-1"}
    assert rt.store.get("NetworkPolicy", "ns", "fruit-mlmodel") is None

    kube = FakeKube()
    sync_network_policy(runtime(kube, _policy("np-2", [])), owner(), "mlmodel")  # a user's own
    assert kube.calls == []

    kube = FakeKube()
    sync_network_policy(runtime(kube), owner(), "mlmodel")  # none: not even a GET
    assert kube.calls == []


# --- URL sources: https unless explicitly opted out -----------------------------------------


def http_pkg(opt_in: bool) -> ResolvedPackage:
    source: dict[str, Any] = {"url": "http://models.local/fruit.tar.gz"}
    if opt_in:
        source["allowInsecureHttp"] = True
    return ResolvedPackage("fruit_classifier", "fruit", "latest", "1", SHA_A, source)


def test_fetch_gets_the_insecure_flag_only_on_opt_in() -> None:
    assert "--allow-insecure-http" not in fetch_container(url_pkg(), inputs())["args"]
    assert "--allow-insecure-http" not in fetch_container(http_pkg(False), inputs())["args"]
    args = fetch_container(http_pkg(True), inputs())["args"]
    assert args[args.index("--url") + 1 : args.index("--url") + 3] == [
        "http://models.local/fruit.tar.gz",
        "--allow-insecure-http",
    ]


def version(**source: Any) -> dict[str, Any]:
    return {"version": "1", "sha256": SHA_A, "source": source}


@pytest.mark.parametrize("verify_urls", [True, False])
def test_plain_http_without_opt_in_is_blocked_before_any_request(verify_urls: bool) -> None:
    entry = verify.check_version(
        version(url="http://127.0.0.1:9/m.tflite"),
        lambda name: None,
        verify_urls=verify_urls,
        max_bytes=10,
        timeout=0.1,
    )
    assert (entry["verified"], entry["reason"]) == ("False", "InsecureSource")
    assert "allowInsecureHttp" in entry["message"]


def test_insecure_source_blocks_deployment_and_old_results_are_not_reused() -> None:
    v = version(url="http://x/m.tflite")
    old_verified = verify.entry(v, "True", "Verified", "checked before the policy existed", SHA_A, 1)
    assert not verify.reusable(old_verified, v)
    blocked = verify.check_version(v, lambda n: None, verify_urls=True, max_bytes=1, timeout=0.1)
    package = {"spec": {"versions": [v]}, "status": {"versions": [blocked]}}
    result = resolve_one({"name": "m", "package": "p", "version": "1"}, package)
    assert getattr(result, "reason", None) == "InsecureSource"


def test_opt_in_http_is_checked_like_https() -> None:
    entry = verify.check_url(
        version(url="http://127.0.0.1:9/m.tflite", allowInsecureHttp=True), max_bytes=10, timeout=0.5
    )
    assert entry["reason"] == "FetchUnreachable"  # tried, not refused


# --- CRD schema ------------------------------------------------------------------------------


def spec_schema(crd: dict[str, Any]) -> dict[str, Any]:
    return dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"])


@pytest.mark.parametrize("crd", [mlmodel_service(), vision_service()], ids=["mlms", "vision"])
def test_serving_crds_have_auth_and_network_policy(crd: dict[str, Any]) -> None:
    props = spec_schema(crd)["properties"]
    auth = props["auth"]
    assert auth["required"] == ["secretName"] and auth["properties"]["key"]["default"] == "token"
    policy = props["networkPolicy"]["properties"]
    assert policy["enabled"]["default"] is False
    peer = policy["allowFrom"]["items"]
    assert set(peer["properties"]) == {"podSelector", "namespaceSelector", "ipBlock"}
    assert "ipBlock alone" in peer["x-kubernetes-validations"][0]["message"]


def test_package_source_cel_names_the_opt_in_field() -> None:
    versions = spec_schema(model_package())["properties"]["versions"]["items"]
    source = versions["properties"]["source"]
    assert source["properties"]["allowInsecureHttp"]["type"] == "boolean"
    rules = {r["message"]: r for r in source["x-kubernetes-validations"]}
    http_rule = next(r for m, r in rules.items() if "allowInsecureHttp" in m and "http://" in m)
    assert http_rule["fieldPath"] == ".url"
    assert "startsWith('https://')" in http_rule["rule"]
