"""Jobs: state, Server-Sent Events, cancel, result."""

from __future__ import annotations

from fastapi import Depends
from fastapi.responses import FileResponse, StreamingResponse

from facereel.web.jobs import public_job
from facereel.web.routers.deps import service
from facereel.web.routing import router as make_router
from facereel.web.schemas import CONTENT_TYPES

router = make_router(prefix="/api/jobs/{jid}", tags=["jobs"])


@router.get("")
def job_state(jid: str, web=Depends(service)) -> dict:
    return public_job(web.get_job(jid))


@router.get("/events", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(jid: str, web=Depends(service)):
    """Server-Sent Events: ``progress`` while running, then ``done``, ``failed`` or ``cancelled``."""
    web.get_job(jid)
    return StreamingResponse(web.jobs.events(jid), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/cancel")
def cancel_job(jid: str, web=Depends(service)) -> dict:
    return web.cancel_job(jid)


@router.get("/result", response_class=FileResponse,
            responses={200: {"content": {t: {} for t in CONTENT_TYPES.values()}}})
def job_result(jid: str, download: bool = False, web=Depends(service)):
    p, job = web.result_file(jid)
    headers = {"Cache-Control": "private, max-age=3600"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="facereel-{jid[:8]}{p.suffix}"'
    return FileResponse(p, media_type=job["content_type"], headers=headers)
