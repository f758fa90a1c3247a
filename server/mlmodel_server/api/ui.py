"""The real-time test page (the seeds' ModelArts test UI): plain HTML and JS, no build."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse


def router() -> APIRouter:
    page = resources.files("mlmodel_server").joinpath("static/index.html").read_text("utf-8")
    api = APIRouter(tags=["test page"])

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    return api
