"""Viam's vision rules: probabilities, box order and scale, role detection, filters."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mlmodel_server.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from mlmodel_server.runtime.roles import classifier_output, detector_roles, model_kind
from mlmodel_server.runtime.tensors import TensorSpec
from mlmodel_server.vision import postprocess as post
from mlmodel_server.vision.config import VisionConfig
from mlmodel_server.vision.image import decode_image, to_input_tensor


def spec(name: str, shape: tuple[int, ...], dtype=np.float32) -> TensorSpec:
    return TensorSpec(name, 0, np.dtype(dtype), shape, shape)


def test_probabilities_pass_through_and_logits_get_softmax():
    np.testing.assert_allclose(post.as_probabilities(np.array([0.2, 0.8])), [0.2, 0.8])
    soft = post.as_probabilities(np.array([2.0, -1.0, 0.5]))
    assert soft.sum() == pytest.approx(1.0) and soft.argmax() == 0
    assert post.as_probabilities(np.array([3.0]))[0] == pytest.approx(1 / (1 + np.exp(-3)))


def test_unlabelled_classes_are_named_by_index():
    ranked = post.top_classifications(np.array([0.1, 0.7, 0.2]), [], 2)
    assert [(c.class_name, c.confidence) for c in ranked] == [("1", 0.7), ("2", 0.2)]


def test_the_top_n_are_those_the_filter_keeps_in_order_of_probability():
    probabilities = np.array([0.05, 0.4, 0.3, 0.25])
    labels = ["a", "b", "c", "d"]
    kept = post.top_classifications(probabilities, labels, 2, lambda name, _: name != "b")
    assert [c.class_name for c in kept] == ["c", "d"]
    assert post.top_classifications(probabilities, labels, 0) == []
    assert post.top_classifications(probabilities, labels, 9, lambda name, p: p > 0.26) == [
        post.Classification("b", 0.4),
        post.Classification("c", 0.3),
    ]


def test_boxes_are_reordered_from_y_first_and_scaled_from_pixels():
    y_first = np.array([[0.1, 0.2, 0.5, 0.6]])  # ymin, xmin, ymax, xmax
    np.testing.assert_allclose(post.box_corners(y_first, (1, 0, 3, 2), (10, 10)), [[0.2, 0.1, 0.6, 0.5]])
    pixels = np.array([[10.0, 20.0, 50.0, 60.0]])  # x-first, in a 100x200 (h x w) input
    np.testing.assert_allclose(post.box_corners(pixels, (0, 1, 2, 3), (100, 200)), [[0.05, 0.2, 0.25, 0.6]])
    assert post.box_corners(np.array([[-0.1, 0.2, 1.3, 0.6]]), (0, 1, 2, 3), (1, 1)).min() == 0.0


def test_postprocess_op_outputs_are_recognised_by_shape():
    outputs = [spec("boxes", (1, 10, 4)), spec("classes", (1, 10)), spec("scores", (1, 10)), spec("n", (1,))]
    assert detector_roles(outputs, {}) == {
        "location": "boxes",
        "category": "classes",
        "score": "scores",
        "count": "n",
    }
    assert model_kind([spec("img", (1, 8, 8, 3), np.uint8)], outputs) == "detector"


def test_names_win_after_remapping():
    outputs = [spec("a", (1, 10)), spec("b", (1, 10, 4)), spec("c", (1, 10))]
    remap = {"a": "score", "b": "location", "c": "category"}
    assert detector_roles(outputs, remap) == {"location": "b", "category": "c", "score": "a"}
    assert classifier_output([spec("p", (1, 5)), spec("q", (1, 5))], {"q": "probability"}).name == "q"


def test_kind_of_a_non_image_model_is_other():
    assert model_kind([spec("a", (1, 4))], [spec("y", (1, 4))]) == "other"
    assert model_kind([spec("img", (1, 8, 8, 3))], [spec("p", (1, 3))]) == "classifier"


def test_label_confidences_replace_the_default_minimum():
    config = VisionConfig.from_attributes(
        {"default_minimum_confidence": 0.9, "label_confidences": {"Red": 0.3}}
    )
    assert config.passes("red", 0.4) and not config.passes("green", 0.95)
    plain = VisionConfig.from_attributes({"default_minimum_confidence": 0.5})
    assert plain.passes("x", 0.5) and not plain.passes("x", 0.49)


@pytest.mark.parametrize(
    "attrs,message",
    [
        ({"default_minimum_confidence": 1.5}, "default_minimum_confidence"),
        ({"xmin_ymin_xmax_ymax_order": [0, 0, 1, 2]}, "xmin_ymin_xmax_ymax_order"),
        ({"input_image_std_dev": [1, 0, 1]}, "input_image_std_dev must not contain 0"),
        ({"input_image_mean_value": [0.5]}, "at least 3"),
        ({"label_confidences": {"a": 2}}, "between 0 and 1"),
        ({"colour": 1}, "unknown vision attribute"),
    ],
)
def test_bad_vision_attributes_name_the_attribute(attrs, message):
    with pytest.raises(ValueError, match=message):
        VisionConfig.from_attributes(attrs)


def png(width: int, height: int, colour=(255, 0, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def test_image_decoding_refuses_types_bombs_and_garbage():
    with pytest.raises(UnsupportedMediaType):
        decode_image(png(4, 4), "image/gif")
    with pytest.raises(PayloadTooLarge, match="exceeds the limit"):
        decode_image(png(100, 100), "image/png", max_pixels=5000)
    with pytest.raises(InvalidInput):
        decode_image(b"\x89PNG\r\n\x1a\nnope", "image/png")
    with pytest.raises(InvalidInput):
        decode_image(png(40, 40)[:60], "image/png")
    assert decode_image(png(3, 2), "image/png; charset=binary").size == (3, 2)


def test_float_inputs_are_normalised_and_uint8_passed_raw():
    image = Image.new("RGB", (6, 4), (255, 0, 128))
    uint8 = to_input_tensor(image, spec("i", (1, 2, 3, 3), np.uint8), (0.5,) * 3, (0.5,) * 3)
    assert uint8.shape == (1, 2, 3, 3) and uint8[0, 0, 0].tolist() == [255, 0, 128]
    floats = to_input_tensor(image, spec("i", (1, 2, 3, 3)), (0.5,) * 3, (0.5,) * 3)
    np.testing.assert_allclose(floats[0, 0, 0], [1.0, -1.0, 128 / 255 / 0.5 - 1], atol=1e-6)
    bgr_nchw = to_input_tensor(image, spec("i", (1, 3, 2, 4), np.uint8), (0,) * 3, (1,) * 3, bgr=True)
    assert bgr_nchw.shape == (1, 3, 2, 4) and bgr_nchw[0, :, 0, 0].tolist() == [128, 0, 255]
