"""Property tests: whatever bytes arrive, decoders answer with a domain error, never a crash."""

from __future__ import annotations

import contextlib
import io

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mlmodel_server.api.errors import http_status
from mlmodel_server.codecs.oip import parse_request
from mlmodel_server.errors import InvalidInput, PayloadTooLarge, ServingError
from mlmodel_server.vision.image import decode_image

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 200, 30)).save(out, "PNG")
    return out.getvalue()


PNG = valid_png()


@FUZZ
@given(st.binary(max_size=4096), st.sampled_from(["image/png", "image/jpeg", "image/bmp"]))
def test_random_bytes_never_crash_the_image_decoder(body: bytes, content_type: str) -> None:
    with contextlib.suppress(InvalidInput, PayloadTooLarge):
        decode_image(body, content_type, max_pixels=10_000)


@FUZZ
@given(st.integers(min_value=0, max_value=len(PNG) - 1), st.integers(min_value=0, max_value=255))
def test_corrupted_pngs_decode_or_fail_cleanly(position: int, value: int) -> None:
    corrupted = bytearray(PNG)
    corrupted[position] = value
    try:
        image = decode_image(bytes(corrupted), "image/png")
        assert image.mode == "RGB"
    except (InvalidInput, PayloadTooLarge):
        pass


@FUZZ
# Cut anywhere before the compressed pixels end (the zlib checksum, the IDAT CRC and the
# IEND chunk follow them: without those the pixels are all there and decode is fine).
@given(st.integers(min_value=1, max_value=len(PNG) - 12 - 4 - 4 - 1))
def test_truncated_images_are_400(cut: int) -> None:
    try:
        decode_image(PNG[:cut], "image/png")
    except InvalidInput:
        return
    raise AssertionError(f"a PNG truncated at {cut} bytes decoded")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(json_values, st.binary(max_size=64), st.one_of(st.none(), st.integers(-5, 200).map(str)))
def test_arbitrary_infer_bodies_are_parsed_or_refused(doc, tail: bytes, header_length) -> None:
    body = orjson.dumps({"inputs": doc}) + tail
    try:
        parse_request(body, header_length)
    except ServingError as exc:
        assert http_status(exc) == 400
