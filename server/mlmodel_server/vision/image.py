"""Decode uploaded images safely, then shape them into a model's input tensor."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

from ..errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from ..runtime.tensors import TensorSpec

# What the seeds' test page accepts (ModelArts: JPG, JPEG, BMP, PNG).
IMAGE_TYPES = {
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/png": "PNG",
    "image/bmp": "BMP",
    "image/x-ms-bmp": "BMP",
    "image/x-bmp": "BMP",
}
DEFAULT_MAX_PIXELS = 40_000_000


def decode_image(body: bytes, content_type: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Return an RGB image, refusing other types (415), bombs (413) and garbage (400)."""
    return decode_pixels(open_image(body, content_type, max_pixels))


def open_image(body: bytes, content_type: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Read only the image's header: its type (415), emptiness (400) and size (413).

    The pixel count is checked before any pixel is decoded, so a tiny file claiming
    100k x 100k pixels costs nothing; `decode_pixels` does the costly part later, on a
    worker thread rather than the event loop.
    """
    media = content_type.split(";")[0].strip().lower()
    if media not in IMAGE_TYPES:
        allowed = ", ".join(sorted({"image/jpeg", "image/png", "image/bmp"}))
        raise UnsupportedMediaType(f"unsupported image type '{media or 'none'}'; use {allowed}")
    if not body:
        raise InvalidInput("the image is empty")
    image = _open(body, IMAGE_TYPES[media], max_pixels)
    if image.width * image.height > max_pixels:
        raise PayloadTooLarge(
            f"image of {image.width}x{image.height} pixels exceeds the limit of {max_pixels} pixels"
        )
    return image


def decode_pixels(image: Image.Image) -> Image.Image:
    """Decode an opened image's pixels (400 if they are corrupt), as RGB.

    An RGB image is returned as is: `convert` would copy it.
    """
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(f"cannot decode the image: {exc}") from exc
    return image if image.mode == "RGB" else image.convert("RGB")


def _open(body: bytes, fmt: str, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(body), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge(f"image exceeds the limit of {max_pixels} pixels: {exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(f"cannot decode the image as {fmt}: {exc}") from exc


def image_layout(spec: TensorSpec) -> tuple[bool, int, int]:
    """(channels_first, height, width) of an image input; -1 means keep the image's size."""
    shape = spec.shape_signature if len(spec.shape_signature) == 4 else spec.shape
    if len(shape) != 4:
        raise InvalidInput(f"input '{spec.name}' of shape {list(shape)} is not an image tensor")
    if shape[1] == 3 and shape[3] != 3:
        return True, shape[2], shape[3]
    return False, shape[1], shape[2]


def to_input_tensor(
    image: Image.Image,
    spec: TensorSpec,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    bgr: bool = False,
) -> np.ndarray:
    """Resize and normalise to the tensor: uint8 raw, int8 shifted, float (x/255-mean)/std."""
    channels_first, height, width = image_layout(spec)
    size = (width if width > 0 else image.width, height if height > 0 else image.height)
    pixels = np.asarray(image.resize(size, Image.Resampling.BILINEAR) if size != image.size else image)
    if bgr:
        pixels = pixels[..., ::-1]
    tensor = _convert(pixels, spec.dtype, mean, std)
    if channels_first:
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor[np.newaxis])


def _convert(
    pixels: np.ndarray, dtype: np.dtype, mean: tuple[float, ...], std: tuple[float, ...]
) -> np.ndarray:
    if dtype == np.uint8:
        return pixels.astype(np.uint8)
    if dtype == np.int8:
        return (pixels.astype(np.int16) - 128).astype(np.int8)
    return _normalised(pixels, mean[:3], std[:3]).astype(dtype, copy=False)


def _normalised(pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(x / 255 - mean) / std as one multiply-add in float32.

    Why per channel in a loop: broadcasting a (3,) vector over (H, W, 3) runs NumPy's inner
    loop three elements at a time, several times slower than a whole plane or a scalar.
    """
    scale = [1.0 / (255.0 * s) for s in std]
    shift = [-m / s for m, s in zip(mean, std, strict=True)]
    out = np.empty(pixels.shape, np.float32)
    if len(set(scale)) == 1 and len(set(shift)) == 1:
        np.multiply(pixels, np.float32(scale[0]), out=out)
        out += np.float32(shift[0])
        return out
    for channel, (a, b) in enumerate(zip(scale, shift, strict=True)):
        plane = out[..., channel]
        np.multiply(pixels[..., channel], np.float32(a), out=plane)
        plane += np.float32(b)
    return out
