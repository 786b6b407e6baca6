"""The time-lapse seed's and thesis' endpoints, in the thesis client's shapes.

``POST /uploadFileAPI`` (multipart field ``image``, many files) and ``POST /uploadNameAPI``
(``{"celebrityName": ...}``) answer ``[[path, age, recommendedToRemove], ...]``;
``POST /generateGifAPI`` (``encoder`` psp | toonify | restyle | pixel, ``size``, ``frames``,
``opacity`` in percent, ``items`` of any earlier upload) answers the GIF; ``GET /storage/{path}``
serves the aligned faces.  The names without ``API`` are the same endpoints.  Errors are a
short plain-text message.
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from facereel.web.multipart import read_uploads
from facereel.web.routers.deps import service
from facereel.web.routing import router as make_router
from facereel.web.schemas import ThesisGif, ThesisName

router = make_router(tags=["seed"])

ROWS = {200: {"content": {"application/json": {"example": [["0f3c…e1.jpg", 34, False]]}}}}
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {"image": {"type": "array", "items": {"type": "string", "format": "binary"}}},
    "required": ["image"]}}}}}
#: answered in text/plain when they fail
PLAIN_PATHS = frozenset({"/uploadFile", "/uploadFileAPI", "/uploadName", "/uploadNameAPI", "/generateGif",
                         "/generateGifAPI"})


async def upload_file(request: Request, web=Depends(service)):
    """Photos in form field ``image`` → ``[[path, age, recommendedToRemove], ...]``; "recommended
    to remove" only when at least four photos came at once."""
    files = await read_uploads(request, ("image", "files", "file"), max_files=web.cfg.max_files_per_request,
                               max_bytes=web.cfg.max_upload_bytes)
    return await web.legacy_upload(files, gone=request.is_disconnected)


async def upload_name(body: ThesisName, request: Request, web=Depends(service)) -> list[list]:
    """``{"celebrityName": ...}`` → ``[[path, age, recommendedToRemove], ...]`` (name search)."""
    return await web.legacy_name(body.celebrityName, gone=request.is_disconnected)


async def generate_gif(body: ThesisGif, request: Request, web=Depends(service)):
    """``encoder`` psp / toonify / restyle (the latent engine with that encoder, when its weights
    are installed), pixel (image blending: the morph engine); ``opacity`` in percent → a GIF."""
    path, pid = await web.legacy_gif(body, gone=request.is_disconnected)
    return FileResponse(path, media_type="image/gif",
                        background=BackgroundTask(run_in_threadpool, web.delete_project, pid))


for suffix in ("", "API"):
    router.add_api_route(f"/uploadFile{suffix}", upload_file, methods=["POST"], openapi_extra=UPLOAD_BODY,
                         responses=ROWS, name=f"upload_file{suffix.lower()}")
    router.add_api_route(f"/uploadName{suffix}", upload_name, methods=["POST"], responses=ROWS,
                         name=f"upload_name{suffix.lower()}")
    router.add_api_route(f"/generateGif{suffix}", generate_gif, methods=["POST"], response_class=FileResponse,
                         responses={200: {"content": {"image/gif": {}}}}, name=f"generate_gif{suffix.lower()}")


@router.get("/storage/{name}", response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}})
def storage(name: str, web=Depends(service)):
    """An aligned face returned by the upload and name endpoints."""
    return FileResponse(web.storage_file(name), media_type="image/jpeg")
