"""`python -m mlmodel_operator` and `python -m mlmodel_fetch` build their own subcommand's
parser: they answer as `mlmodel operator` and `mlmodel fetch` do, and never import the
umbrella CLI (mlmodel_server.cli), which imports them. The control plane's and the fetcher's
code imports nothing of the server package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import mlmodel_fetch
import mlmodel_operator
import mlmodel_tflite

ENTRIES = {"mlmodel_operator": "operator", "mlmodel_fetch": "fetch"}
MISUSES = {"mlmodel_operator": ["--metrics-port", "x"], "mlmodel_fetch": ["--dest", "d"]}


def python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, check=False)


def imported(report: str) -> set[str]:
    """The modules `python -X importtime` says it imported, one report line each."""
    return {line.rsplit("|", 1)[1].strip() for line in report.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("package", ENTRIES)
def test_python_m_is_the_subcommand_without_the_server_package(package: str) -> None:
    run = python("-X", "importtime", "-m", package, "--help")
    assert run.returncode == 0, run.stderr
    modules = imported(run.stderr)
    assert f"{package}.cli" in modules  # the report is read right
    assert not {m for m in modules if m.split(".")[0] == "mlmodel_server"}
    assert run.stdout == python("-m", "mlmodel_server.cli", ENTRIES[package], "--help").stdout


@pytest.mark.parametrize("package", ENTRIES)
def test_python_m_usage_errors_are_one_line(package: str) -> None:
    run = python("-m", package, *MISUSES[package])
    assert (run.returncode, run.stderr.count("\n")) == (2, 1)
    assert run.stderr.startswith(f"mlmodel {ENTRIES[package]}: error: ")
    assert run.stderr == python("-m", "mlmodel_server.cli", ENTRIES[package], *MISUSES[package]).stderr


@pytest.mark.parametrize("package", [mlmodel_operator, mlmodel_fetch, mlmodel_tflite])
def test_no_control_plane_or_fetch_module_imports_the_server_package(package: ModuleType) -> None:
    """The operator and the fetcher read model files with mlmodel_tflite, not the server's runtime."""
    offenders = []
    for path in Path(str(package.__file__)).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}:{node.lineno}" for n in names if n.split(".")[0] == "mlmodel_server"]
    assert offenders == []
