"""What every route needs: the service of the app that serves the request."""

from __future__ import annotations

from fastapi import Request

from facereel.web.service import WebService


def service(request: Request) -> WebService:
    return request.app.state.web
