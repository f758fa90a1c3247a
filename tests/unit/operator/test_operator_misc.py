"""Config, CRD generation, verification, events, status writes, CLI errors."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
import yaml
from tests.support.httpd import directory_handler, serving

from mlmodel_operator import verify
from mlmodel_operator.config import Config, ConfigError
from mlmodel_operator.crdgen.__main__ import render
from mlmodel_operator.crdgen.kinds import all_crds
from mlmodel_operator.handlers.writer import status_changed
from mlmodel_operator.status.events import transition_events
from mlmodel_operator.status.package_status import verified_condition

ROOT = Path(__file__).resolve().parents[3]
MODEL = b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64


def test_config_defaults_and_env() -> None:
    assert Config.from_env({}) == Config()
    cfg = Config.from_env(
        {
            "MLMODEL_OPERATOR_IMAGE": "img:2",
            "MLMODEL_OPERATOR_NAMESPACES": "a, b,",
            "MLMODEL_OPERATOR_PEERING": "mlmodel",
            "MLMODEL_OPERATOR_LIVENESS_PORT": "9000",
            "MLMODEL_OPERATOR_VERIFY_URLS": "false",
        }
    )
    assert (cfg.image, cfg.namespaces, cfg.peering) == ("img:2", ("a", "b"), "mlmodel")
    assert cfg.liveness_endpoint == "http://0.0.0.0:9000/healthz"
    assert cfg.verify_urls is False
    assert Config.from_env({"MLMODEL_OPERATOR_PEERING": "standalone"}).peering is None
    assert Config.from_env({"MLMODEL_OPERATOR_LIVENESS_PORT": "0"}).liveness_endpoint is None


@pytest.mark.parametrize(
    "env",
    [
        {"MLMODEL_OPERATOR_LIVENESS_PORT": "x"},
        {"MLMODEL_OPERATOR_VERIFY_URLS": "maybe"},
        {"MLMODEL_OPERATOR_RESYNC_SECONDS": "soon"},
        {"MLMODEL_OPERATOR_TERMINATION_GRACE_SECONDS": "8"},  # not above the 5 s preStop and exit
        {"MLMODEL_OPERATOR_PRESTOP_SECONDS": "0"},
    ],
)
def test_config_errors_name_the_variable(env: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(env))):
        Config.from_env(env)


def test_crd_files_are_up_to_date() -> None:
    for name, crd in all_crds().items():
        path = ROOT / "crds" / name
        assert path.read_text() == render(crd), "regenerate: python -m mlmodel_operator.crdgen crds"


def test_crds_have_status_columns_and_short_names() -> None:
    for name in ("mlmodel.dev_mlmodelservices.yaml", "mlmodel.dev_visionservices.yaml"):
        crd = yaml.safe_load((ROOT / "crds" / name).read_text())
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        cols = [c["name"] for c in version["additionalPrinterColumns"]]
        assert {"Phase", "Version", "Ready", "Age", "Stopped", "Auto-Stop At"} <= set(cols)
        assert crd["spec"]["names"]["shortNames"]


def version(sha: str | None = None, **source: object) -> dict:
    out: dict = {"version": "1", "source": source or {"configMap": {"name": "c", "key": "k"}}}
    if sha:
        out["sha256"] = sha
    return out


def test_configmap_bytes_are_verified() -> None:
    data = b"model-bytes"
    good = hashlib.sha256(data).hexdigest()
    cm = {"binaryData": {"k": base64.b64encode(data).decode()}}
    ok = verify.check_configmap(version(good), lambda name: cm, 1 << 20)
    assert (ok["verified"], ok["sha256"], ok["size"]) == ("True", good, len(data))
    bad = verify.check_configmap(version("0" * 64), lambda name: cm, 1 << 20)
    assert (bad["verified"], bad["reason"]) == ("False", "ChecksumMismatch")
    assert "expected " + "0" * 64 in bad["message"]
    assert verify.check_configmap(version(), lambda name: None, 1)["reason"] == "SourceNotFound"
    assert verify.check_configmap(version(), lambda name: {"data": {}}, 1)["reason"] == "SourceNotFound"


def test_unreachable_url_is_not_blocking() -> None:
    entry = verify.check_url(
        version("a" * 64, url="http://127.0.0.1:9/m.tflite", allowInsecureHttp=True), 100, 1.0
    )
    assert entry["verified"] == "Unknown" and entry["reason"] == "FetchUnreachable"


@pytest.mark.parametrize(
    "source, verify_urls",
    [
        ({"persistentVolumeClaim": {"claimName": "c", "path": "p"}}, True),
        ({"url": "https://models.invalid/m.tflite"}, False),
    ],
)
def test_bytes_the_operator_does_not_read_are_unverified(source: dict, verify_urls: bool) -> None:
    entry = verify.check_version(
        version("a" * 64, **source), lambda n: None, verify_urls=verify_urls, max_bytes=1, timeout=1
    )
    assert (entry["verified"], entry["reason"]) == ("Unknown", "Unverified")
    assert "init container" in entry["message"] and "files" not in entry
    condition = verified_condition([entry])
    assert (condition.status, condition.reason) == ("Unknown", "Unverified")


def test_events_on_transitions_only() -> None:
    old = {"phase": "Deploying", "resolvedPackages": [{"name": "f", "version": "1"}]}
    new = {
        "phase": "Running",
        "resolvedPackages": [{"name": "f", "version": "2"}],
        "autoStopDueTime": "2026-01-01T00:00:00Z",
    }
    reasons = [e[1] for e in transition_events(old, new)]
    assert reasons == ["PackageResolved", "AutoStopEnabled", "Running"]
    assert transition_events(new, new) == []
    degraded = transition_events(new, {**new, "phase": "Degraded"})
    assert degraded[0][:2] == ("Warning", "Degraded")


def test_a_new_service_announces_the_phase_it_reaches_not_each_step() -> None:
    deploying = {"phase": "Deploying", "resolvedPackages": [{"name": "f", "version": "1"}]}
    assert transition_events({}, deploying) == []  # the version is named by the phase reached
    assert transition_events({"phase": "Pending"}, deploying) == []
    ready = {"type": "Ready", "message": "fruit 1 serves"}
    running = {**deploying, "phase": "Running", "conditions": [ready]}
    assert transition_events(deploying, running) == [("Normal", "Running", "fruit 1 serves")]
    # A rollout while a version serves is announced; a failure always is.
    for phase in ("Running", "Degraded"):
        assert [e[1] for e in transition_events({**deploying, "phase": phase}, deploying)] == ["Deploying"]
    assert transition_events(deploying, {**deploying, "phase": "Failed"})[0][:2] == ("Warning", "Failed")


def test_status_changed_ignores_timestamps() -> None:
    old = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "T0"}],
    }
    same = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "T1"}],
    }
    assert not status_changed(old, same)
    assert status_changed(old, {**same, "phase": "Stopped"})
    assert status_changed({**old, "stopTime": "T"}, {**same, "stopTime": None})


def test_operator_cli_reports_config_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlmodel_operator.cli import main

    monkeypatch.setenv("MLMODEL_OPERATOR_LIVENESS_PORT", "nope")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlmodel operator: error:") and err.count("\n") == 1


@pytest.fixture()
def www(tmp_path: Path):  # type: ignore[no-untyped-def]
    with serving(directory_handler(tmp_path)) as url:
        yield tmp_path, url


def test_url_is_downloaded_and_verified(www) -> None:  # type: ignore[no-untyped-def]
    root, base = www
    (root / "m.tflite").write_bytes(MODEL)
    good = hashlib.sha256(MODEL).hexdigest()

    def loopback(sha: str, path: str) -> dict:  # the test server is plain http: opt in
        return version(sha, url=f"{base}/{path}", allowInsecureHttp=True)

    ok = verify.check_url(loopback(good, "m.tflite"), 100, 2.0)
    assert (ok["verified"], ok["size"]) == ("True", len(MODEL))
    bad = verify.check_url(loopback("0" * 64, "m.tflite"), 100, 2.0)
    assert bad["reason"] == "ChecksumMismatch"
    big = verify.check_url(loopback(good, "m.tflite"), 3, 2.0)
    assert (big["verified"], big["reason"]) == ("Unknown", "TooLargeToVerify")
    missing = verify.check_url(loopback(good, "nope.tflite"), 100, 2.0)
    assert (missing["verified"], missing["reason"]) == ("False", "FetchNotFound")
    assert verify.reusable(ok, loopback(good, "m.tflite"))
    assert not verify.reusable(ok, loopback(good, "other.tflite"))
