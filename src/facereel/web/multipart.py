"""Reading the photos of a multipart request (the HTTP side of an upload)."""

from __future__ import annotations

from starlette.requests import Request

from facereel.web.errors import BadRequest, Unsupported
from facereel.web.guard import _Stalled, _TooLarge
from facereel.web.uploads import UploadError

Files = list[tuple[str, "bytes | UploadError"]]


async def read_uploads(request: Request, fields: tuple[str, ...], *, max_files: int, max_bytes: int) -> Files:
    """(filename, bytes or the reason it was refused) for every file of a multipart request in
    the form ``fields``.  Text values of those fields (the thesis' client appends the
    FileList's ``item`` method as a string) are ignored."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise Unsupported("send the photos as multipart/form-data")
    try:
        form = await request.form(max_files=max_files, max_fields=50)
    except (_TooLarge, _Stalled):
        raise
    except Exception as exc:
        detail = getattr(exc, "detail", None)   # Starlette's own limits say which one
        if isinstance(detail, str) and "maximum number" in detail.lower():
            raise BadRequest(f"too many files in one request: at most {max_files}") from None
        raise BadRequest("malformed multipart body") from None
    out: Files = []
    try:
        for key, value in form.multi_items():
            if key not in fields or isinstance(value, str):
                continue
            name = value.filename or "photo"
            data = await value.read(max_bytes + 1)
            if len(data) > max_bytes:
                out.append((name, UploadError(f"{name}: file is larger than the {max_bytes // (1024 * 1024)} MiB limit",
                                              413)))
            else:
                out.append((name, data))
    finally:
        await form.close()
    if not out:
        raise BadRequest(f"no file in the request (form field {' or '.join(repr(f) for f in fields)})")
    return out
