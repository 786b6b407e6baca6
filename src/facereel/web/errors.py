"""The web's errors and their one mapping to HTTP.

The service raises :class:`facereel.core.errors.FacereelError` subclasses (their ``http_status``
is the answer's status); :func:`install` registers the handlers that turn them, request
validation errors and anything unexpected into a JSON ``{"detail": "..."}`` — or, on the
time-lapse thesis' paths, a short plain-text message.  Whatever reaches a client passes
:func:`public_message`: no absolute server path, no Python object repr, never the request's
own input echoed back.
"""

from __future__ import annotations

import logging
import re

from facereel.core.errors import FacereelError

log = logging.getLogger(__name__)


class WebError(FacereelError):
    http_status = 400


class BadRequest(WebError):
    http_status = 400


class Forbidden(WebError):
    http_status = 403


class NotFound(WebError):
    http_status = 404


class Conflict(WebError):
    http_status = 409


class TooLarge(WebError):
    http_status = 413


class Unsupported(WebError):
    http_status = 415


class Invalid(WebError):
    http_status = 422


class Busy(WebError):
    """The job queue is full (429)."""

    http_status = 429


class Unavailable(WebError):
    """A feature this server cannot offer (not configured, weights not installed)."""

    http_status = 503


class Rejected(WebError):
    """Every uploaded file was refused; ``rejected`` lists each with its reason."""

    def __init__(self, message: str, status: int, rejected: list[dict]):
        super().__init__(message)
        self.http_status = status
        self.rejected = rejected


#: an absolute POSIX path (a run of path segments after a slash at a word start)
_ABS_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"():,;]+/)+([^\s/'\"():,;]+)")
#: Python object reprs such as <_io.BytesIO object at 0x7f...>
_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")


def public_message(text: str, limit: int = 300) -> str:
    """``text`` fit for a client: absolute paths reduced to their last component, object reprs
    and memory addresses removed, at most ``limit`` characters."""
    text = _ABS_PATH.sub(lambda m: m.group(1), str(text))
    text = _REPR.sub("the data", text)
    text = _ADDRESS.sub("", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validation_message(errors: list[dict]) -> str:
    """One line from pydantic errors: ``field: message`` pairs, never the input values."""
    parts = []
    for e in errors[:5]:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
        msg = str(e.get("msg", "invalid"))
        msg = msg.replace("Value error, ", "")
        parts.append(f"{'.'.join(loc) or 'body'}: {msg}" if loc else msg)
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return public_message("; ".join(parts) + more)


def install(app, plain_paths: frozenset[str] = frozenset()) -> None:
    """Registers the exception handlers on ``app``.  Paths in ``plain_paths`` answer errors as
    ``text/plain`` (the thesis' client reads a short message, not JSON)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    def answer(request, status: int, detail: str, extra: dict | None = None, headers=None):
        if request.url.path in plain_paths:
            return PlainTextResponse(detail, status_code=status, headers=headers)
        return JSONResponse({"detail": detail, **(extra or {})}, status_code=status, headers=headers)

    @app.exception_handler(FacereelError)
    async def facereel_error(request, exc: FacereelError):
        status = int(getattr(exc, "http_status", 400) or 400)
        message = exc.message_for() if hasattr(exc, "message_for") else str(exc)
        extra = {"rejected": exc.rejected} if isinstance(exc, Rejected) else None
        return answer(request, status, public_message(message), extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc: RequestValidationError):
        return answer(request, 422, validation_message(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code in (408, 413):   # the rest of the body is not read: end the connection
            headers["Connection"] = "close"
        return answer(request, exc.status_code, public_message(str(exc.detail)), headers=headers or None)

    @app.exception_handler(Exception)
    async def unexpected(request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return answer(request, 500, "internal server error (details are in the server log)")
