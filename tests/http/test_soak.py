"""The short CI variant of the soak benchmark: mixed traffic, no error, still healthy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def test_mixed_traffic_soak_loses_no_request(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    command = [sys.executable, str(SOAK), "--minutes", "0.25", "--segments", "2", "--warmup", "3"]
    command += ["--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    report = json.loads(out.read_text())
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["errors"] == 0 and report["requests"] > 0
    assert report["healthy_after"]
