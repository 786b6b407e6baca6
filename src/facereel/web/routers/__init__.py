"""One router per resource; ``ROUTERS`` in the order the app includes them."""

from __future__ import annotations

from facereel.web.routers import items, jobs, legacy, meta, projects, renders

ROUTERS = (meta.router, projects.router, items.router, renders.router, jobs.router, legacy.router)
