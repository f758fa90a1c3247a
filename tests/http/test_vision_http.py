"""Vision endpoints: classifications and detections of real images, and image errors."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.conftest import IMAGES
from tests.http.conftest import make_client

TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".bmp": "image/bmp"}


def post_image(client, path: str, name: str, query: str = ""):
    file = IMAGES / name
    return client.post(
        f"{path}{query}", content=file.read_bytes(), headers={"Content-Type": TYPES[file.suffix]}
    )


@pytest.mark.parametrize("model", ["classifier_uint8", "classifier_float32", "classifier_metadata"])
def test_each_classifier_names_the_colour_of_each_image(clients, expected, model):
    for case in expected["models"][f"{model}.tflite"]["cases"]:
        name = case["image"].split("/")[-1]
        response = post_image(clients(model), f"/v1/vision/{model}/classifications", name, "?n=2")
        assert response.status_code == 200, response.text
        found = response.json()["classifications"]
        assert len(found) == 2
        assert found[0]["class_name"] == case["top_label"]
        assert found[0]["confidence"] == pytest.approx(case["top_probability"], abs=1e-4)


def test_multipart_upload_works_like_a_raw_body(clients):
    data = (IMAGES / "red.png").read_bytes()
    response = clients("classifier_uint8").post(
        "/v1/vision/classifier_uint8/classifications?n=1", files={"image": ("red.png", data, "image/png")}
    )
    assert response.json()["classifications"][0]["class_name"] == "red"


def test_detections_in_pixels_and_normalised(clients):
    response = post_image(
        clients("detector_ssd"), "/v1/vision/detector_ssd/detections", "detect_red_topleft.png"
    )
    [found] = response.json()["detections"]
    width, height = Image.open(IMAGES / "detect_red_topleft.png").size
    assert found["class_name"] == "red" and found["confidence"] == pytest.approx(0.9, abs=1e-6)
    assert (found["x_min"], found["y_min"], found["x_max"], found["y_max"]) == (0, 0, width // 2, height // 2)
    assert found["x_max_normalized"] == pytest.approx(0.5) and found["y_max_normalized"] == pytest.approx(0.5)


def test_modelarts_format_answers_y_first_boxes(clients):
    response = post_image(
        clients("detector_ssd"),
        "/v1/vision/detector_ssd/detections",
        "detect_red_blue.png",
        "?format=modelarts",
    )
    body = response.json()
    assert body["detection_classes"] == ["red", "blue"]
    width, height = Image.open(IMAGES / "detect_red_blue.png").size
    assert body["detection_boxes"][1] == pytest.approx([height / 2, width / 2, height, width])
    assert body["detection_scores"][0] > body["detection_scores"][1]


def test_vision_attributes_filter_detections():
    client = make_client("detector_ssd", vision={"label_confidences": {"BLUE": 0.5}})
    response = post_image(client, "/v1/vision/detector_ssd/detections", "detect_red_blue.png")
    assert [d["class_name"] for d in response.json()["detections"]] == ["blue"]
    client.app.state.dataplane.close()
    strict = make_client("classifier_uint8", vision={"default_minimum_confidence": 0.999})
    response = post_image(strict, "/v1/vision/classifier_uint8/classifications", "red.png")
    assert response.json() == {"classifications": []}
    strict.app.state.dataplane.close()


def test_properties_say_what_a_model_supports(clients):
    assert clients("detector_ssd").get("/v1/vision/detector_ssd/properties").json() == {
        "classifications_supported": False,
        "detections_supported": True,
        "object_point_clouds_supported": False,
    }


def test_wrong_task_is_400_naming_the_model(clients):
    response = post_image(clients("detector_ssd"), "/v1/vision/detector_ssd/classifications", "red.png")
    assert response.status_code == 400 and "not a classifier" in response.json()["error"]
    response = post_image(clients("multi_io"), "/v1/vision/multi_io/detections", "red.png")
    assert response.status_code == 400


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG that claims a huge canvas: the header alone must be refused."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "body,content_type,status,message",
    [
        (b"GIF89a....", "image/gif", 415, "unsupported image type 'image/gif'"),
        (b"{}", "application/json", 415, "unsupported image type"),
        ((IMAGES / "truncated.png").read_bytes(), "image/png", 400, "cannot decode the image"),
        (b"\xff\xd8\xff garbage", "image/jpeg", 400, "cannot decode the image"),
        (b"", "image/png", 400, "empty"),
        (bomb_png(10_000, 10_000), "image/png", 413, "exceeds the limit"),
    ],
)
def test_bad_images_get_a_4xx_naming_the_problem(clients, body, content_type, status, message):
    client = clients("classifier_uint8")
    response = client.post(
        "/v1/vision/classifier_uint8/classifications", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status and message in response.json()["error"]
    assert client.get("/v2/health/ready").status_code == 200


def test_unknown_vision_service_and_missing_multipart_field(clients):
    client = clients("classifier_uint8")
    assert client.post("/v1/vision/nope/classifications", content=b"x").status_code == 404
    response = client.post(
        "/v1/vision/classifier_uint8/classifications", files={"other": ("a", b"x", "image/png")}
    )
    assert response.status_code == 400 and "no file field 'image'" in response.json()["error"]
    response = post_image(client, "/v1/vision/classifier_uint8/classifications", "red.png", "?n=0")
    assert response.status_code == 422 and "n" in response.json()["error"]
