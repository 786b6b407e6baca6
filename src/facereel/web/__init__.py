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
``POST /uploadFile`` ``/uploadName``        the seed's endpoints, same shapes
``POST /generateGif`` ``GET /storage/{n}``
==========================================  =====================================================
"""
