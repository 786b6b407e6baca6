"""The facereel web app (FastAPI): upload or crawl, review, render, watch.

``create_app(config)`` wires the pieces: :class:`~facereel.web.service.WebService` (the
state and every operation), the routers of :mod:`facereel.web.routers`, the guard middleware
(:mod:`facereel.web.guard`) and the one mapping of facereel's errors to HTTP
(:mod:`facereel.web.errors`).  The files live as :mod:`facereel.web.storage` describes.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from facereel.web import errors
from facereel.web.config import WebConfig
from facereel.web.guard import GuardMiddleware
from facereel.web.routers import ROUTERS
from facereel.web.routers.legacy import PLAIN_PATHS
from facereel.web.routers.meta import STATIC_DIR
from facereel.web.service import WebService
from facereel.web.storage import safe_filename as _safe_filename  # noqa: F401  (kept for callers)


def create_app(config: WebConfig | dict | None = None) -> FastAPI:
    """The FastAPI app.  CORS is off unless ``config.cors_origins`` lists origins (``*``: any)."""
    from facereel import __version__

    cfg = WebConfig.from_any(config)
    web = WebService(cfg)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        web.start()
        yield
        await run_in_threadpool(web.shutdown)

    app = FastAPI(title="facereel", version=str(__version__), lifespan=lifespan,
                  description="Facial time-lapses from your photos: upload or crawl, review, render.",
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")   # the docs UIs load from CDNs
    app.state.web = web
    app.add_middleware(GuardMiddleware, max_body=cfg.max_request_bytes, max_json=cfg.max_json_bytes,
                       cors_origins=cfg.cors_origins, allowed_hosts=cfg.allowed_hosts, body_timeout=cfg.body_timeout)
    errors.install(app, PLAIN_PATHS)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, html=False), name="static")
    for r in ROUTERS:
        app.include_router(r)
    return app
