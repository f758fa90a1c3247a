"""hack/audit.py, the dependency audit of hack/test.sh: a vulnerability fails the run, an
ignored id does not, and an audit that could check nothing says so (fatal on request)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


def load_audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit", ROOT / "hack" / "audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


audit = load_audit()
VULNERABLE = {
    "dependencies": [
        {"name": "jinja2", "version": "2.4.1", "vulns": [{"id": "PYSEC-2014-8", "fix_versions": ["2.7.2"]}]},
        {"name": "numpy", "version": "2.3.0", "vulns": []},
    ]
}
UNREACHABLE = {"dependencies": [{"name": "numpy", "skip_reason": "Dependency not found on PyPI"}]}


def run_with(
    report: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    ignore: list[str] | None = None,
    pypi: dict[str, Any] | None = None,
) -> int:
    """audit.main() with pip-audit's report and PyPI's project JSON (`pypi`) stubbed."""
    monkeypatch.setattr(audit, "run_pip_audit", lambda lock, ids: report)
    monkeypatch.setattr(audit, "ignored_ids", lambda: ignore or [])
    monkeypatch.setattr(audit, "pinned_versions", lambda: {"numpy": "2.3.0"})
    monkeypatch.setattr(audit, "project_json", lambda name: (pypi or {}).get(name))
    return int(audit.main())


def test_a_known_vulnerability_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_with(VULNERABLE, monkeypatch) == 1
    out = capsys.readouterr().out
    assert "VULNERABLE jinja2 2.4.1: PYSEC-2014-8 (fixed in: 2.7.2)" in out
    assert "2 of 2 pinned runtime dependencies checked" in out


def test_clean_report_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    clean = {"dependencies": [{"name": "numpy", "version": "2.3.0", "vulns": []}]}
    assert run_with(clean, monkeypatch) == 0


def test_unauditable_dependencies_warn_or_fail_on_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MLMODEL_AUDIT_REQUIRE", raising=False)
    assert run_with(UNREACHABLE, monkeypatch) == 0
    assert "1 dependencies could not be audited" in capsys.readouterr().out
    monkeypatch.setenv("MLMODEL_AUDIT_REQUIRE", "1")
    assert run_with(UNREACHABLE, monkeypatch) == 1


def test_ignore_file_takes_ids_and_skips_comments(tmp_path: Path) -> None:
    path = tmp_path / "ignore.txt"
    path.write_text("# header\n\nPYSEC-2014-8   # jinja2: not reachable from our code\nGHSA-x\n")
    assert audit.ignored_ids(path) == ["PYSEC-2014-8", "GHSA-x"]
    assert audit.ignored_ids(tmp_path / "missing.txt") == []
    assert audit.ignored_ids() == []  # the shipped list is empty


def latest(version: str, *vulns: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"version": version}, "vulnerabilities": list(vulns)}


def test_a_skipped_pin_that_is_the_latest_release_is_audited_from_the_project_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLMODEL_AUDIT_REQUIRE", "1")
    assert run_with(UNREACHABLE, monkeypatch, pypi={"numpy": latest("2.3.0")}) == 0
    assert "1 of 1 pinned runtime dependencies checked" in capsys.readouterr().out
    advisory = {"id": "GHSA-x", "aliases": ["CVE-1"], "fixed_in": ["2.3.1"], "withdrawn": None}
    assert run_with(UNREACHABLE, monkeypatch, pypi={"numpy": latest("2.3.0", advisory)}) == 1
    assert "VULNERABLE numpy 2.3.0: GHSA-x (fixed in: 2.3.1)" in capsys.readouterr().out
    assert run_with(UNREACHABLE, monkeypatch, ["CVE-1"], {"numpy": latest("2.3.0", advisory)}) == 0


def test_an_older_pin_stays_unaudited_and_says_which_versions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MLMODEL_AUDIT_REQUIRE", raising=False)
    assert run_with(UNREACHABLE, monkeypatch, pypi={"numpy": latest("2.4.0")}) == 0
    assert "numpy 2.3.0 (latest 2.4.0)" in capsys.readouterr().out


def test_the_lock_file_pins_are_read_with_normalised_names(tmp_path: Path) -> None:
    lock = tmp_path / "image.lock"
    lock.write_text(
        "Backports_StrEnum==1.2.8 \\\n    --hash=sha256:abc\nnumpy==2.4.6 ; python_version >= '3.11'\n"
    )
    assert audit.pinned_versions(lock) == {"backports-strenum": "1.2.8", "numpy": "2.4.6"}
