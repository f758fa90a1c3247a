"""The environment of our operator run as a host process against a local cluster.

Why here: the cluster tests (tests/cluster/operator_fixtures.py) and the control-plane
benchmark (benchmarks/controlplane_subjects.py) both start `python -m mlmodel_operator`
from this checkout, and must agree on how it finds the cluster, the source and its ports.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def operator_env(kubeconfig: Path, image: str, liveness_port: int, metrics_port: int) -> dict[str, str]:
    """This process's environment plus what the operator needs: the cluster's kubeconfig,
    the checkout's source roots, its two ports and the inference image (never pulled on kwok)."""
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": os.pathsep.join(
            [str(REPO / "operator"), str(REPO / "server"), os.environ.get("PYTHONPATH", "")]
        ),
        "MLMODEL_OPERATOR_LIVENESS_PORT": str(liveness_port),
        "MLMODEL_OPERATOR_METRICS_PORT": str(metrics_port),
        "MLMODEL_OPERATOR_IMAGE": image,
    }
