"""Renders of a project: start one, list the history."""

from __future__ import annotations

from fastapi import Depends

from facereel.web.jobs import public_job
from facereel.web.routers.deps import service
from facereel.web.routing import router as make_router
from facereel.web.schemas import RenderSettings

router = make_router(prefix="/api/projects/{pid}/renders", tags=["renders"])


@router.post("", status_code=202)
def start_render(pid: str, body: RenderSettings, web=Depends(service)) -> dict:
    """Starts a render; follow it at ``/api/jobs/{id}/events`` (SSE)."""
    return public_job(web.start_render(pid, body))


@router.get("")
def render_history(pid: str, web=Depends(service)) -> list[dict]:
    return web.render_history(pid)
