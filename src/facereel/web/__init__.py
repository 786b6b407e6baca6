"""facereel.web: the web app (``facereel serve``), safe to expose on a local network.

``facereel.web.app.create_app(config) -> FastAPI``; the schema is published at
``/openapi.json``.  Main endpoints:

==========================================  =====================================================
``POST /api/projects``                      new project (128-bit random id)
``GET/DELETE /api/projects/{pid}``          project with items and jobs / delete it and its files
``POST /api/projects/{pid}/photos``         multipart ``files``: validated by content, EXIF/GPS
                                            stripped, analysis job started
``PATCH /api/projects/{pid}/items/{iid}``   ``age``, ``excluded``, ``position``
``POST /api/projects/{pid}/crawl``          ``{"name": ...}``: search, download, analyse (a job)
``POST /api/projects/{pid}/renders``        render settings -> job; one per project at a time
``GET /api/jobs/{jid}/events``              Server-Sent Events: progress, then done/failed/cancelled
``POST /api/jobs/{jid}/cancel``             stop a job
``GET /api/jobs/{jid}/result``              the finished video/GIF (``?download=1``)
``POST /api/projects/{pid}/analyze``       analyse again what was left unanalysed
``POST /uploadFileAPI`` ``/uploadNameAPI``  the time-lapse thesis' client's endpoints, its shapes
``POST /generateGifAPI`` ``GET /storage/{n}`` (also without the ``API`` suffix)
==========================================  =====================================================

Layout: :mod:`~facereel.web.app` (``create_app``), :mod:`~facereel.web.schemas` (request models,
converted to :mod:`facereel.options` objects), :mod:`~facereel.web.guard` (Host/Origin/CORS/body
limits), :mod:`~facereel.web.errors` (facereel errors mapped to HTTP once),
:mod:`~facereel.web.service` (the operations), :mod:`~facereel.web.routers` (one per resource,
``legacy`` for the seed's and thesis' endpoints), :mod:`~facereel.web.server` (uvicorn with
header timeouts and a graceful stop).
"""
