"""The page and the server's public configuration."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends
from fastapi.responses import FileResponse

from facereel.web.routers.deps import service
from facereel.web.routing import router as make_router

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

router = make_router()


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


@router.get("/api/config", tags=["meta"])
def get_config(web=Depends(service)) -> dict:
    """Limits, engines and the latent choices installed here (no secrets, no paths; no model is
    loaded to answer)."""
    return web.public_config()
