"""What the cluster and e2e tiers share: their namespaces' labels and how their tests are marked."""

from __future__ import annotations

from pathlib import Path

import pytest

# Every test namespace enforces the `restricted` Pod Security Standard, as a careful user's would.
RESTRICTED_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "mlmodel.dev/test-namespace": "true",
}


def mark_tier(items: list[pytest.Item], folder: Path, marker: pytest.MarkDecorator) -> None:
    """Mark every test below `folder`, so `-m "not e2e"` and the like select whole tiers."""
    for item in items:
        if folder in item.path.parents:
            item.add_marker(marker)
