"""The operator's client on lightkube: configuration, credentials, errors, kopf's login.

`Kube.from_config` is what the operator runs with; these tests give it a mock transport, so
lightkube's own setup (base URL, bearer token, token file) is what they check.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import kopf
import pytest
from lightkube import KubeConfig
from lightkube.config.models import Cluster, User

from mlmodel_operator.k8s.client import (
    ApiError,
    Kube,
    delete_exactly,
    is_namespace_terminating,
    is_not_found,
    kubeconfig_path,
)
from mlmodel_operator.k8s.login import connection_info, login
from mlmodel_operator.k8s.retry import NO_RETRIES

Seen = list[httpx2.Request]


def kube_for(config: KubeConfig, answer: httpx2.Response | None = None) -> tuple[Kube, Seen]:
    seen: Seen = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return answer or httpx2.Response(200, json={"items": []})

    single = config.get()
    assert single is not None
    return Kube.from_config(single, source="test", transport=httpx2.MockTransport(handle)), seen


def test_requests_carry_the_token_and_keep_the_servers_path_prefix() -> None:
    config = KubeConfig.from_one(cluster=Cluster(server="https://proxy.test/k8s/c1"), user=User(token="t0k"))
    kube, seen = kube_for(config)
    assert kube.list("/api/v1/namespaces/ns/pods", "app=x", from_cache=True) == []
    [request] = seen
    assert request.url.path == "/k8s/c1/api/v1/namespaces/ns/pods"
    assert dict(request.url.params) == {"labelSelector": "app=x", "resourceVersion": "0"}
    assert request.headers["Authorization"] == "Bearer t0k"
    assert kube.server == "https://proxy.test/k8s/c1 (test)"


def test_apply_sends_the_manifest_as_json_with_the_apply_content_type() -> None:
    kube, seen = kube_for(KubeConfig.from_one(cluster=Cluster(server="https://a.test"), user=User(token="t")))
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ns"}}
    kube.apply(cm)
    [request] = seen
    assert (request.method, request.url.path) == ("PATCH", "/api/v1/namespaces/ns/configmaps/x")
    assert request.headers["Content-Type"] == "application/apply-patch+yaml"
    assert dict(request.url.params) == {"fieldManager": "mlmodel-operator", "force": "true"}
    assert httpx2.Response(200, content=request.content).json() == cm


def test_the_service_account_token_is_read_from_its_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    user = User(token="first", token_file=str(token))
    config = KubeConfig.from_one(cluster=Cluster(server="https://a.test"), user=user)
    kube, seen = kube_for(config)
    kube.get("/api/v1/namespaces/ns/configmaps/x")
    assert seen[0].headers["Authorization"] == "Bearer first"
    token.write_text("rotated\n")
    single = config.get()
    assert single is not None
    assert connection_info(single).token == "rotated"  # kopf's next login reads the new one


def test_an_answer_that_is_not_json_is_still_an_api_error_with_its_status() -> None:
    config = KubeConfig.from_one(cluster=Cluster(server="https://a.test"), user=User(token="t"))
    kube, _ = kube_for(config, httpx2.Response(502, text="<html>Bad Gateway</html>"))
    kube.policy = NO_RETRIES  # a 502 on a GET is retried otherwise
    with pytest.raises(ApiError) as raised:
        kube.get("/api/v1/namespaces/ns/configmaps/x")
    assert raised.value.status == 502 and "Bad Gateway" in str(raised.value)
    assert not is_not_found(raised.value)


def test_status_answers_are_classified_by_code_and_reason() -> None:
    status = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "NamespaceTerminating"}
    config = KubeConfig.from_one(cluster=Cluster(server="https://a.test"), user=User(token="t"))
    kube, _ = kube_for(config, httpx2.Response(403, json=status))
    with pytest.raises(ApiError) as raised:
        kube.request("POST", "/api/v1/namespaces/ns/events", body={})
    assert is_namespace_terminating(raised.value) and str(raised.value).endswith("NamespaceTerminating")
    kube, _ = kube_for(config, httpx2.Response(404, json={"kind": "Status", "code": 404}))
    assert kube.get("/api/v1/namespaces/ns/configmaps/x") is None


@pytest.mark.parametrize("code", [200, 404, 409])
def test_delete_exactly_sends_the_uid_precondition_and_takes_gone_or_replaced_as_done(code: int) -> None:
    config = KubeConfig.from_one(cluster=Cluster(server="https://a.test"), user=User(token="t"))
    kube, seen = kube_for(config, httpx2.Response(code, json={"kind": "Status", "code": code}))
    delete_exactly(kube, "/api/v1/namespaces/ns/endpoints/x", "uid-7")
    [request] = seen
    assert (request.method, request.url.path) == ("DELETE", "/api/v1/namespaces/ns/endpoints/x")
    assert httpx2.Response(200, content=request.content).json()["preconditions"] == {"uid": "uid-7"}


def test_delete_exactly_raises_any_other_refusal() -> None:
    config = KubeConfig.from_one(cluster=Cluster(server="https://a.test"), user=User(token="t"))
    kube, _ = kube_for(config, httpx2.Response(403, json={"kind": "Status", "code": 403}))
    with pytest.raises(ApiError):
        delete_exactly(kube, "/api/v1/namespaces/ns/endpoints/x", "uid-7")


def test_kopf_gets_the_same_cluster_and_credentials(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("ca")
    config = KubeConfig.from_dict(
        {
            "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team"}}],
            "clusters": [
                {"name": "k", "cluster": {"server": "https://k.test:6443", "certificate-authority": "ca.crt"}}
            ],
            "users": [
                {"name": "u", "user": {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}}
            ],
        },
        fname=tmp_path / "kubeconfig",
    ).get()
    assert config is not None
    info = connection_info(config)
    assert (info.server, info.ca_path, info.default_namespace) == (
        "https://k.test:6443",
        str(tmp_path / "ca.crt"),
        "team",
    )
    assert (info.certificate_data, info.private_key_data, info.token) == ("Y2VydA==", "a2V5", None)
    assert info.as_http_headers() == {}


def test_exec_plugins_are_refused_for_kopf_with_a_reason() -> None:
    config = KubeConfig.from_dict(
        {
            "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            "clusters": [{"name": "k", "cluster": {"server": "https://k.test"}}],
            "users": [
                {
                    "name": "u",
                    "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "x"}},
                }
            ],
        }
    ).get()
    assert config is not None
    with pytest.raises(kopf.LoginError, match="exec plugins"):
        login(config, kopf.OperatorSettings())


def test_in_cluster_both_clients_use_the_service_address_and_the_account_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator pod's case: the Service's address from the kubelet's environment (no DNS
    needed), the mounted CA, and the token file, for the operator's requests and for kopf."""
    for name, text in {"token": "sa-token\n", "namespace": "mlmodel-system", "ca.crt": "ca"}.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    config = KubeConfig.from_service_account(tmp_path)
    seen: Seen = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"gitVersion": "v1.35.4"})

    single = config.get()
    assert single is not None
    # The CA file here is no certificate; TLS is not what this test is about.
    monkeypatch.setattr("lightkube.config.client_adapter.verify_cluster", lambda *a, **k: True)
    kube = Kube.from_config(single, transport=httpx2.MockTransport(handle))
    assert kube.request("GET", "/version") == {"gitVersion": "v1.35.4"}
    assert (seen[0].url.host, seen[0].url.path) == ("10.96.0.1", "/version")
    assert seen[0].headers["Authorization"] == "Bearer sa-token"
    info = connection_info(single)
    assert (info.server, info.token, info.ca_path) == (
        "https://10.96.0.1:443",
        "sa-token",
        str(tmp_path / "ca.crt"),
    )
    assert info.default_namespace == "mlmodel-system"


def test_of_a_kubeconfig_list_the_first_file_is_read() -> None:
    assert kubeconfig_path({"KUBECONFIG": "/a/admin.conf:/b/other.conf"}) == "/a/admin.conf"
    assert kubeconfig_path({"KUBECONFIG": ":/b/other.conf"}) == "/b/other.conf"
    assert kubeconfig_path({}) == kubeconfig_path({"KUBECONFIG": ""}) == "~/.kube/config"
