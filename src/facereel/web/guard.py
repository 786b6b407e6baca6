"""The ASGI guard in front of every route: Host and Origin checks, CORS, body limits and read
deadlines, security headers.

- **Host** (DNS rebinding): with ``allowed_hosts`` set, another name in ``Host`` gets 400.
- **Origin**: a write (POST/PUT/PATCH/DELETE) from another origin gets 403 unless that origin
  was allowed (``facereel serve --cors-origin ORIGIN``, ``*`` for any); every refusal is logged
  with the origin, so a mismatch (``localhost`` vs ``127.0.0.1``) is visible server-side.
- **CORS** (opt-in): allowed origins get their preflights answered and
  ``Access-Control-Allow-Origin`` on every answer; ``/storage`` images carry
  ``Cross-Origin-Resource-Policy: cross-origin`` for them (an ``<img>`` sends no ``Origin``, so
  its ``Referer`` origin decides; with ``*`` any page may show them) and ``same-origin``
  otherwise.
- **Bodies**: multipart bodies up to ``max_body``, every other body (JSON) up to ``max_json``,
  by ``Content-Length`` and by the bytes streamed; a body that stalls for ``body_timeout``
  seconds between two chunks is answered 408.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
ALLOW_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"


class _TooLarge(HTTPException):
    """Raised from ``receive`` (an HTTPException, so frameworks reading the body let it through)."""

    def __init__(self, detail: str = "request body is too large"):
        super().__init__(413, detail)


class _Stalled(HTTPException):
    def __init__(self):
        super().__init__(408, "the request body arrived too slowly")


def hostname(host: str) -> str:
    """``host[:port]`` or ``[v6]:port`` -> host name."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class GuardMiddleware:
    def __init__(self, app, *, max_body: int, max_json: int = 256 * 1024, cors_origins=None,
                 allowed_hosts=None, body_timeout: float = 30.0):
        self.app = app
        self.max_body = max_body
        self.max_json = max_json
        self.body_timeout = body_timeout
        origins = {o.strip().rstrip("/").lower() for o in (cors_origins or []) if o.strip()}
        self.any_origin = "*" in origins
        self.cors_origins = origins - {"*"}
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts else None

    def cors_allows(self, origin: str | None) -> bool:
        return origin is not None and (self.any_origin or origin in self.cors_origins)

    def _refused(self, what: str, origin: str, scope) -> None:
        allowed = "*" if self.any_origin else (", ".join(sorted(self.cors_origins)) or "none")
        log.warning("refused a cross-origin %s %s from origin %s (allowed origins: %s; "
                    "allow it with `facereel serve --cors-origin %s`)", what, scope.get("path"), origin, allowed,
                    origin)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        method = scope.get("method", "GET")
        host = headers.get(b"host", b"").decode("latin-1").lower()
        raw_origin = headers.get(b"origin")
        origin = raw_origin.decode("latin-1").strip().rstrip("/").lower() if raw_origin is not None else None
        same_origin = origin is not None and origin.split("://", 1)[-1] == host
        cors_ok = not same_origin and self.cors_allows(origin)
        started = False

        async def send_wrapped(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": self._response_headers(scope, headers, message, origin, cors_ok)}
            await send(message)

        if self.allowed_hosts is not None and hostname(host) not in self.allowed_hosts:
            # DNS rebinding: a foreign name that resolves to this server
            return await self._reject(send_wrapped, 400, "this host name is not served here")
        if method == "OPTIONS" and origin is not None and b"access-control-request-method" in headers:
            if cors_ok or same_origin:
                return await self._preflight(send_wrapped, headers)
            self._refused("preflight for", origin, scope)
            return await self._reject(send_wrapped, 403, "cross-origin request refused")
        if origin is not None and method in WRITES and not same_origin and not cors_ok:
            # CSRF: a page of another site posting to this server
            self._refused("request", origin, scope)
            return await self._reject(send_wrapped, 403, "cross-site request refused")

        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = self.max_body if ctype.startswith("multipart/form-data") else self.max_json
        length = headers.get(b"content-length")
        if length is not None:
            try:
                if int(length) > limit:
                    return await self._reject(send_wrapped, 413, self._too_large(limit))
            except ValueError:
                return await self._reject(send_wrapped, 400, "bad Content-Length")
        seen = 0
        body_done = method in ("GET", "HEAD", "OPTIONS") and length is None

        async def receive_limited():
            nonlocal seen, body_done
            if body_done:   # later receives wait for a disconnect (SSE): no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout)
            except TimeoutError:
                raise _Stalled() from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(self._too_large(limit))
                if not message.get("more_body", False):
                    body_done = True
            else:
                body_done = True
            return message

        try:
            await self.app(scope, receive_limited, send_wrapped)
        except _TooLarge:
            if not started:
                await self._reject(send_wrapped, 413, self._too_large(limit))
        except _Stalled:
            log.info("a client stalled sending its request body to %s for %g s; closed", scope.get("path"),
                     self.body_timeout)
            if not started:
                await self._reject(send_wrapped, 408, "the request body arrived too slowly")

    def _too_large(self, limit: int) -> str:
        what = "request body" if limit == self.max_body else "JSON body"
        return f"{what} is larger than {limit} bytes"

    def _response_headers(self, scope, req_headers: dict, message: dict, origin: str | None, cors_ok: bool):
        headers = [(k, v) for k, v in message.get("headers", [])
                   if k.lower() not in (b"access-control-allow-origin", b"cross-origin-resource-policy")]
        names = {k.lower() for k, _ in headers}
        for k, v in ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                     (b"referrer-policy", b"no-referrer"), (b"content-security-policy", CSP.encode())):
            if k not in names:
                headers.append((k, v))
        headers.append((b"cross-origin-resource-policy", self._resource_policy(scope, req_headers, cors_ok)))
        if cors_ok:
            headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
        if self.any_origin or self.cors_origins:
            headers.append((b"vary", b"Origin"))
        return headers

    def _resource_policy(self, scope, req_headers: dict, cors_ok: bool) -> bytes:
        if not (self.any_origin or self.cors_origins) or not scope.get("path", "").startswith("/storage/"):
            return b"same-origin"
        if self.any_origin or cors_ok:
            return b"cross-origin"
        referer = req_headers.get(b"referer")
        if referer is not None and _origin_of(referer.decode("latin-1")) in self.cors_origins:
            return b"cross-origin"
        return b"same-origin"

    async def _preflight(self, send, headers: dict) -> None:
        origin = headers.get(b"origin", b"")
        wanted = headers.get(b"access-control-request-headers", b"")
        # echo the requested header names (tokens only)
        allow = b", ".join(h.strip() for h in wanted.split(b",")
                           if h.strip() and all(c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
                                                for c in h.strip()))
        out = [(b"access-control-allow-origin", origin.strip()), (b"access-control-allow-methods", ALLOW_METHODS),
               (b"access-control-max-age", b"600"), (b"vary", b"Origin"), (b"content-length", b"0")]
        if allow:
            out.append((b"access-control-allow-headers", allow))
        await send({"type": "http.response.start", "status": 204, "headers": out})
        await send({"type": "http.response.body", "body": b""})

    async def _reject(self, send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
