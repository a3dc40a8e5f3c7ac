"""The draw-a-digit page: ``GET /`` and its static files, which live beside this module (no CDN, works offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"


def add_page(app: FastAPI) -> None:
    """Serve ``static/index.html`` at ``/`` (instead of LitServe's "litserve running") and the files beside it under
    ``/static/``."""
    app.router.routes = [route for route in app.router.routes if getattr(route, "path", None) != "/"]
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
