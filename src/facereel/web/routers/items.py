"""Items: list, edit (age, excluded, position), order, their thumbnails and photos."""

from __future__ import annotations

from fastapi import Depends
from fastapi.responses import FileResponse

from facereel.web.routers.deps import service
from facereel.web.routing import router as make_router
from facereel.web.schemas import ItemPatch

router = make_router(prefix="/api/projects/{pid}", tags=["items"])


@router.get("/items")
def list_items(pid: str, web=Depends(service)) -> list[dict]:
    web.get_project(pid)
    return [web.public_item(i) for i in web.db.items(pid)]


@router.patch("/items/{iid}")
def patch_item(pid: str, iid: str, body: ItemPatch, web=Depends(service)) -> dict:
    """Edits an item: ``age`` (the grid re-sorts unless the order was set by hand),
    ``excluded``, ``position`` (moves it; the order becomes manual)."""
    return web.patch_item(pid, iid, body)


@router.post("/sort-by-age")
def sort_by_age(pid: str, web=Depends(service)) -> list[dict]:
    """Orders the items by date/age again and forgets the manual order."""
    return web.sort_by_age(pid)


@router.get("/items/{iid}/thumb", response_class=FileResponse)
def item_thumb(pid: str, iid: str, web=Depends(service)):
    # re-analysis rewrites it under the same URL: revalidate (ETag) every time
    return FileResponse(web.thumb_file(pid, iid), media_type="image/jpeg", headers={"Cache-Control": "no-cache"})


@router.get("/items/{iid}/photo", response_class=FileResponse)
def item_photo(pid: str, iid: str, web=Depends(service)):
    p = web.photo_file(pid, iid)
    return FileResponse(p, media_type="image/jpeg" if p.suffix == ".jpg" else "image/png")
