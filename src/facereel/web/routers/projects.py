"""Projects: create, read, delete, add photos, search by name, analyse again."""

from __future__ import annotations

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from facereel.web.jobs import public_job
from facereel.web.multipart import read_uploads
from facereel.web.routers.deps import service
from facereel.web.routing import router as make_router
from facereel.web.schemas import CrawlRequest, ProjectCreate

router = make_router(prefix="/api/projects", tags=["projects"])

UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
    "required": ["files"]}}}}}


@router.post("", status_code=201)
def create_project(body: ProjectCreate | None = None, web=Depends(service)) -> dict:
    p = web.create_project((body.name if body else "") or "")
    return {"id": p["id"], "name": p["name"], "created": p["created"]}


@router.get("/{pid}")
def get_project(pid: str, web=Depends(service)) -> dict:
    return web.public_project(pid)


@router.delete("/{pid}", status_code=204)
def delete_project(pid: str, web=Depends(service)) -> Response:
    web.get_project(pid)
    web.delete_project(pid)
    return Response(status_code=204)


@router.post("/{pid}/photos", openapi_extra=UPLOAD_BODY, status_code=201)
async def upload_photos(pid: str, request: Request, web=Depends(service)):
    """Adds photos (multipart field ``files``, many allowed) and starts their analysis.

    Every file is checked by content; refused files are listed with their reason.  When no
    file is accepted the status is 4xx."""
    web.get_project(pid)
    files = await read_uploads(request, ("files", "file", "image"), max_files=web.cfg.max_files_per_request,
                               max_bytes=web.cfg.max_upload_bytes)
    accepted, rejected = await run_in_threadpool(web.accept_uploads, pid, files)
    if not accepted:
        raise web.refuse(rejected)
    job = web.start_analysis(pid)
    return JSONResponse({"items": [web.public_item(i) for i in accepted], "rejected": rejected,
                         "job": public_job(job)}, status_code=201)


@router.post("/{pid}/analyze", status_code=202)
def analyse_again(pid: str, web=Depends(service)) -> dict:
    """Analyses the photos whose analysis never finished (a kill, a cancel, a full queue)."""
    return public_job(web.reanalyse(pid))


@router.post("/{pid}/crawl", status_code=202)
def crawl_name(pid: str, body: CrawlRequest, web=Depends(service)) -> dict:
    """Searches photos of a person (four age-diversified queries), downloads and analyses them."""
    web.get_project(pid)
    return public_job(web.start_crawl(pid, body.name, body.per_query))
