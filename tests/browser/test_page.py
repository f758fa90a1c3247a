"""The real-time test page in headless Chromium: upload an image, read the rendered result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import IMAGES, MODELS

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
# Without these flags Chromium keeps dialling Google's hosts from a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: hack/test.sh installs Debian's chromium package")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def open_page(browser, url: str):
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function("document.querySelector('#service').options.length > 0")
    return page


def test_classify_an_uploaded_image(browser, serve_process):
    server = serve_process(
        "--model",
        MODELS / "classifier_uint8.tflite",
        "--labels",
        MODELS / "classifier_labels.txt",
        "--name",
        "colours",
    )
    page = open_page(browser, server.url + "/")
    page.set_input_files("#file", str(IMAGES / "green.jpg"))
    page.wait_for_selector("#results:not([hidden]) td.class")
    assert page.inner_text("#results tbody tr:first-child td.class") == "green"
    assert float(page.inner_text("#results tbody tr:first-child td.confidence")) > 0.99
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "test-page-classify.png"))


def test_detections_are_drawn_over_the_image(browser, serve_process):
    server = serve_process(
        "--model", MODELS / "detector_ssd.tflite", "--labels", MODELS / "detector_labels.txt"
    )
    page = open_page(browser, server.url + "/")
    assert page.input_value("#task") == "detections"
    page.set_input_files("#file", str(IMAGES / "detect_red_blue.png"))
    page.wait_for_selector("#results:not([hidden]) td.class")
    assert page.locator("#results tbody td.class").all_inner_texts() == ["red", "blue"]
    # A box outline is drawn in cyan on the canvas at the red detection's corner.
    pixel = page.evaluate(
        "Array.from(document.querySelector('#canvas').getContext('2d').getImageData(0, 30, 1, 1).data)"
    )
    assert pixel[:3] == [0, 229, 255]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "test-page-detect.png"))


def test_errors_are_shown(browser, serve_process):
    server = serve_process("--model", MODELS / "classifier_uint8.tflite")
    page = open_page(browser, server.url + "/")
    page.set_input_files("#file", str(IMAGES / "truncated.png"))
    page.wait_for_selector("#error:has-text('400')", timeout=10_000)
    assert "cannot decode the image" in page.inner_text("#error")
