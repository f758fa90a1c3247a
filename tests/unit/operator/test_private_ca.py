"""A ModelPackage URL on a server with a private CA (`source.caConfigMap`): the init container
gets that one ConfigMap key and `--ca-file`, the operator verifies the URL against the same
bundle only, and a bundle it cannot read blocks the version (`CABundleNotFound`)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import SHA_A, inputs, url_pkg
from tests.support.tls import Authority, https_server

from mlmodel_operator import verify
from mlmodel_operator.builders.children import build_deployment
from mlmodel_operator.builders.pod import fetch_container
from mlmodel_operator.crdgen.kinds import model_package
from mlmodel_operator.packages import ResolvedPackage, resolve_one

MODEL = b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64
CA_NAME = "corp-ca"

# --- the pod ---------------------------------------------------------------------------------


def ca_pkg(**ref: str) -> ResolvedPackage:
    source = {"url": "https://artifacts.corp/fruit.tar.gz", "caConfigMap": {"name": CA_NAME, **ref}}
    return ResolvedPackage("fruit_classifier", "fruit", "latest", "1", SHA_A, source)


def test_the_bundle_reaches_only_the_init_container_with_the_flag() -> None:
    pod = build_deployment(inputs(packages=(ca_pkg(),)), 1)["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"].startswith("ca-")]
    assert volume == {
        "name": "ca-fruit-classifier",
        "configMap": {"name": CA_NAME, "items": [{"key": "ca.crt", "path": "ca.crt"}]},
    }
    [init] = pod["initContainers"]
    mount = {"name": "ca-fruit-classifier", "mountPath": "/etc/mlmodel-ca/corp-ca", "readOnly": True}
    assert mount in init["volumeMounts"]
    assert init["args"][init["args"].index("--ca-file") + 1] == "/etc/mlmodel-ca/corp-ca/ca.crt"
    assert all(m["name"] != volume["name"] for m in pod["containers"][0]["volumeMounts"])


def test_the_key_is_chosen_and_other_urls_keep_the_system_store() -> None:
    args = fetch_container(ca_pkg(key="bundle.pem"), inputs())["args"]
    assert args[args.index("--ca-file") + 1] == "/etc/mlmodel-ca/corp-ca/bundle.pem"
    assert "--ca-file" not in fetch_container(url_pkg(), inputs())["args"]
    pod = build_deployment(inputs(), 1)["spec"]["template"]["spec"]
    assert not [v for v in pod["volumes"] if v["name"].startswith("ca-")]


def test_crd_allows_ca_config_map_on_https_urls_only() -> None:
    crd = model_package()
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    source = spec["properties"]["versions"]["items"]["properties"]["source"]
    ref = source["properties"]["caConfigMap"]
    assert ref["required"] == ["name"] and ref["properties"]["key"]["default"] == "ca.crt"
    [rule] = [r for r in source["x-kubernetes-validations"] if r.get("fieldPath") == ".caConfigMap"]
    assert rule["message"] == "caConfigMap applies to https:// url sources only"
    assert "has(self.url) && self.url.startsWith('https://')" in rule["rule"]


# --- the operator's verification -------------------------------------------------------------


def version(url: str = "https://127.0.0.1:9/m.tflite", ca: bool = True) -> dict[str, Any]:
    source: dict[str, Any] = {"url": url}
    if ca:
        source["caConfigMap"] = {"name": CA_NAME}
    return {"version": "1", "sha256": hashlib.sha256(MODEL).hexdigest(), "source": source}


def configmaps(**by_name: dict[str, Any]) -> Callable[[str], dict[str, Any] | None]:
    return by_name.get


def check(
    v: dict[str, Any],
    read: Callable[[str], Any],
    verify_urls: bool = True,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return verify.check_version(
        v, read, verify_urls=verify_urls, max_bytes=1 << 20, timeout=5.0, previous=previous
    )


@pytest.fixture()
def corp() -> Authority:
    return Authority("corp artifact CA")


@pytest.fixture()
def url(tmp_path: Path, corp: Authority, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    (tmp_path / "m.tflite").write_bytes(MODEL)
    with https_server(tmp_path, corp.server_context()) as base:
        yield f"{base}/m.tflite"


def as_binary_data(pem: str) -> dict[str, Any]:
    """A bundle with UTF-8 comments, as binaryData: the kubelet mounts it all the same."""
    text = f"# Issuer: CN=Société Générale Root\n{pem}"
    return {"binaryData": {"ca.crt": base64.b64encode(text.encode()).decode()}}


@pytest.mark.parametrize("layout", ["data", "binaryData"])
def test_the_url_is_verified_against_the_bundle(url: str, corp: Authority, layout: str) -> None:
    cm = {"data": {"ca.crt": corp.pem}} if layout == "data" else as_binary_data(corp.pem)
    entry = check(version(url), configmaps(**{CA_NAME: cm}))
    assert (entry["verified"], entry["reason"], entry["size"]) == ("True", "Verified", len(MODEL))


def test_another_ca_fails_naming_the_configmap(url: str) -> None:
    entry = check(version(url), configmaps(**{CA_NAME: {"data": {"ca.crt": Authority("other").pem}}}))
    assert (entry["verified"], entry["reason"]) == ("Unknown", "FetchUntrusted")
    assert entry["message"].startswith("certificate verify failed: ")
    assert entry["message"].endswith("(CA from ConfigMap 'corp-ca' key 'ca.crt')")


def test_without_ca_config_map_the_message_points_at_it(url: str) -> None:
    entry = check(version(url, ca=False), configmaps())
    assert entry["message"].startswith("certificate verify failed: ")
    assert "a server with a private CA needs source.caConfigMap" in entry["message"]


BAD_BUNDLES = {
    "no-configmap": ({}, "CA bundle ConfigMap 'corp-ca' not found"),
    "no-key": ({CA_NAME: {"data": {"tls.crt": "x"}}}, "CA bundle ConfigMap 'corp-ca' has no key 'ca.crt'"),
    "empty": (
        {CA_NAME: {"data": {"ca.crt": ""}}},
        "CA bundle ConfigMap 'corp-ca' key 'ca.crt' holds no PEM certificate",
    ),
    "not-pem": (
        {CA_NAME: {"data": {"ca.crt": "hello"}}},
        "CA bundle ConfigMap 'corp-ca' key 'ca.crt' holds no PEM certificate",
    ),
}


@pytest.mark.parametrize("verify_urls", [True, False])
@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
def test_a_bundle_the_operator_cannot_use_blocks_the_version(case: str, verify_urls: bool) -> None:
    maps, message = BAD_BUNDLES[case]
    v = version()
    entry = check(v, configmaps(**maps), verify_urls=verify_urls)
    assert (entry["verified"], entry["reason"], entry["message"]) == ("False", "CABundleNotFound", message)
    package = {"spec": {"versions": [v]}, "status": {"versions": [entry]}}
    result = resolve_one({"name": "m", "package": "fruit", "version": "1"}, package)
    assert getattr(result, "reason", None) == "CABundleNotFound"


def test_a_kept_result_gives_way_once_the_bundle_is_gone(corp: Authority) -> None:
    v = version()  # nothing listens there: a kept result is the only way to stay Verified
    verified = verify.entry(v, "True", "Verified", "checksum verified", SHA_A, 1)
    present = configmaps(**{CA_NAME: {"data": {"ca.crt": corp.pem}}})
    assert check(v, present, previous=verified) == verified
    assert check(v, configmaps(), previous=verified)["reason"] == "CABundleNotFound"
