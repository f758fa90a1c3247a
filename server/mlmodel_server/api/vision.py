"""Vision endpoints: classifications and detections of an uploaded image."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from PIL import Image
from starlette.datastructures import UploadFile

from ..dataplane import DataPlane
from ..errors import InvalidInput
from ..vision.image import open_image
from ..vision.postprocess import Detection
from . import openapi

IMAGE_FIELDS = ("image", "images", "file")  # ours, ModelArts', a common default


async def read_image(request: Request, max_pixels: int) -> Image.Image:
    """The image from a raw body (Content-Type image/*) or multipart field `image`: its
    header only, checked; the vision service decodes its pixels off the event loop."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        body, content_type = await _multipart_image(request)
    else:
        body = await request.body()
    return open_image(body, content_type, max_pixels)


async def _multipart_image(request: Request) -> tuple[bytes, str]:
    form = await request.form(max_files=1, max_fields=8)
    for field in IMAGE_FIELDS:
        upload = form.get(field)
        if isinstance(upload, UploadFile):
            return await upload.read(), upload.content_type or ""
    raise InvalidInput("multipart body has no file field 'image'")


def detection_json(d: Detection, width: int, height: int) -> dict[str, Any]:
    return {
        "x_min": round(d.x_min * width),
        "y_min": round(d.y_min * height),
        "x_max": round(d.x_max * width),
        "y_max": round(d.y_max * height),
        "x_min_normalized": d.x_min,
        "y_min_normalized": d.y_min,
        "x_max_normalized": d.x_max,
        "y_max_normalized": d.y_max,
        "confidence": d.confidence,
        "class_name": d.class_name,
    }


def modelarts_json(found: list[Detection], width: int, height: int) -> dict[str, Any]:
    """ModelArts' shape: boxes as [y_min, x_min, y_max, x_max] in pixels."""
    return {
        "detection_classes": [d.class_name for d in found],
        "detection_boxes": [
            [d.y_min * height, d.x_min * width, d.y_max * height, d.x_max * width] for d in found
        ],
        "detection_scores": [d.confidence for d in found],
    }


def router(dataplane: DataPlane, max_pixels: int) -> APIRouter:
    api = APIRouter(tags=["vision service"])

    @api.get("/v1/vision/{name}/properties")
    async def properties(name: str) -> dict[str, bool]:
        props = dataplane.vision_service(name).properties
        return {**props.__dict__, "object_point_clouds_supported": False}

    @api.post("/v1/vision/{name}/classifications", openapi_extra=openapi.image())
    async def classifications(
        name: str, request: Request, n: int = Query(5, ge=1, le=1000)
    ) -> dict[str, Any]:
        service = dataplane.vision_service(name)
        found = await service.classify(await read_image(request, max_pixels), n)
        return {"classifications": [{"class_name": c.class_name, "confidence": c.confidence} for c in found]}

    @api.post("/v1/vision/{name}/detections", openapi_extra=openapi.image())
    async def detections(
        name: str, request: Request, format: str = Query("viam", pattern="^(viam|modelarts)$")
    ) -> dict[str, Any]:
        service = dataplane.vision_service(name)
        image = await read_image(request, max_pixels)
        found = await service.detect(image)
        if format == "modelarts":
            return modelarts_json(found, image.width, image.height)
        return {"detections": [detection_json(d, image.width, image.height) for d in found]}

    return api
