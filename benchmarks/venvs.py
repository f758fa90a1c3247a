"""The peers' virtual environments: made once, reused while their pins do not change.

KServe and MLflow pin their own FastAPI, uvicorn, pydantic and NumPy versions;
each gets a venv of its own under ~/.cache/mlmodel-operator/bench-venvs so
their pins never clash with ours. A stamp file holds the hash of the
requirements file the venv was made from: same hash, nothing to do.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path.home() / ".cache" / "mlmodel-operator" / "bench-venvs"
STAMP = ".requirements.sha256"


def ensure(name: str, requirements: Path, log: Callable[[str], None] = print) -> Path:
    """The venv `name` with `requirements` installed (created or updated when they changed)."""
    venv = ROOT / name
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = venv / STAMP
    if stamp.is_file() and stamp.read_text().strip() == digest and (venv / "bin" / "python").exists():
        return venv
    log(f"setting up the {name} venv in {venv} (once; a few minutes)")
    if not (venv / "bin" / "python").exists():
        _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "--upgrade", "pip"])
    _run([*pip, "-r", str(requirements)])
    stamp.write_text(digest + "\n")
    return venv


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
