"""VisionService: classifications and detections over one TFLiteModel."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image

from ..errors import TENSOR_MISMATCH, InvalidInput, ModelLoadError
from ..runtime import roles
from ..runtime.model import TFLiteModel
from . import postprocess as post
from .config import DEFAULT_BOX_ORDER, VisionConfig
from .image import decode_pixels, image_layout, to_input_tensor

DEFAULT_MEAN_STD = (0.5, 0.5, 0.5)  # float input in -1..1, as Viam


@dataclass(frozen=True)
class Properties:
    classifications_supported: bool
    detections_supported: bool


class VisionService:
    """Pre-process an image for the model, run it, post-process with Viam's rules."""

    def __init__(self, name: str, model: TFLiteModel, config: VisionConfig) -> None:
        self.name = name
        self.model = model
        self.config = config
        self.image_spec = roles.image_input(model.inputs, config.remap_input_names)
        self.detector = roles.detector_roles(model.outputs, config.remap_output_names)
        self.classifier = roles.classifier_output(model.outputs, config.remap_output_names)
        self.mean, self.std = self._normalization()

    def require_vision_model(self) -> None:
        """Refuse, in a VisionService's pod, a model no image request could use.

        Why at start: a server that loads such a model would turn Ready and answer every
        request with a 4xx, so a rollout to it would replace working pods with useless ones.
        Failing instead keeps the old pods serving and puts this message in the pod's status.
        (A plain MLModelService serves any model; its vision routes then answer 400.)
        """
        if self.image_spec is None or len(self.image_spec.shape) not in (3, 4):
            inputs = ", ".join(f"{s.name}{list(s.shape)}" for s in self.model.inputs)
            why = f"no single image input of 3 or 4 dimensions (inputs: {inputs})"
            raise ModelLoadError(f"model '{self.model.name}' cannot serve vision: {why}", TENSOR_MISMATCH)
        if self.classifier is None and self.detector is None:
            why = f"its outputs are neither a classifier's nor a detector's ({self._shapes()})"
            raise ModelLoadError(f"model '{self.model.name}' cannot serve vision: {why}", TENSOR_MISMATCH)

    @property
    def properties(self) -> Properties:
        has_image = self.image_spec is not None
        return Properties(has_image and self.classifier is not None, has_image and self.detector is not None)

    def _normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Attributes first, then the model's metadata (pixel units), then -1..1."""
        if self.config.input_image_mean_value or self.config.input_image_std_dev:
            return (
                self.config.input_image_mean_value or DEFAULT_MEAN_STD,
                self.config.input_image_std_dev or DEFAULT_MEAN_STD,
            )
        norm = self.image_spec.extra.get("normalization") if self.image_spec else None
        if norm:
            return _per_channel(norm["mean"], 255.0), _per_channel(norm["std"], 255.0)
        return DEFAULT_MEAN_STD, DEFAULT_MEAN_STD

    def _image_tensor(self, image: Image.Image) -> dict[str, np.ndarray]:
        """The model's input from an opened image: decoded, resized and normalised here,
        which `predict` runs on the interpreter's worker thread."""
        if self.image_spec is None:
            raise InvalidInput(f"model '{self.model.name}' has no single image input")
        pixels = decode_pixels(image)
        tensor = to_input_tensor(pixels, self.image_spec, self.mean, self.std, self.config.input_image_bgr)
        return {self.image_spec.name: tensor}

    async def classify(self, image: Image.Image, n: int) -> list[post.Classification]:
        """The top `n` classes passing the filters, of an image `open_image` read the header of."""
        if self.classifier is None:
            raise InvalidInput(f"model '{self.model.name}' is not a classifier (outputs: {self._shapes()})")
        outputs = await self.model.predict(partial(self._image_tensor, image), [self.classifier.name])
        scores = post.dequantize(outputs[self.classifier.name], self.classifier)
        probabilities = post.as_probabilities(scores)
        return post.top_classifications(probabilities, self.model.labels, n, self.config.passes)

    async def detect(self, image: Image.Image) -> list[post.Detection]:
        """The detections passing the filters, of an image `open_image` read the header of."""
        if self.detector is None:
            raise InvalidInput(f"model '{self.model.name}' is not a detector (outputs: {self._shapes()})")
        named = await self.model.predict(partial(self._image_tensor, image), list(self.detector.values()))
        real = {name: post.dequantize(a, self.model.output_spec(name)) for name, a in named.items()}
        raw = post.detector_outputs(real, self.detector)
        corners = post.box_corners(raw.boxes, self._box_order(), self._input_hw(image))
        found = [
            post.Detection(post.class_name(int(c), self.model.labels), float(s), *map(float, box))
            for box, c, s in zip(corners, raw.classes, raw.scores, strict=True)
        ]
        return [d for d in found if self.config.passes(d.class_name, d.confidence)]

    def _box_order(self) -> tuple[int, ...]:
        if self.config.xmin_ymin_xmax_ymax_order:
            return self.config.xmin_ymin_xmax_ymax_order
        assert self.detector is not None
        location = self.model.output_spec(self.detector["location"])
        return tuple(location.extra.get("box_order") or DEFAULT_BOX_ORDER)

    def _input_hw(self, image: Image.Image) -> tuple[int, int]:
        assert self.image_spec is not None
        _, height, width = image_layout(self.image_spec)
        return (height if height > 0 else image.height, width if width > 0 else image.width)

    def _shapes(self) -> str:
        return ", ".join(f"{s.name}{list(s.shape)}" for s in self.model.outputs)


def _per_channel(values: list[float], scale: float) -> tuple[float, ...]:
    scaled = tuple(v / scale for v in values)
    return scaled * 3 if len(scaled) == 1 else scaled
