"""The route class every router uses: JSON bodies parsed off the event loop, strictly.

A JSON body (already bounded by the guard middleware) is decoded in a worker thread, so a big
or deeply nested one never stalls other requests, and ``NaN``, ``Infinity`` or a number that
overflows to infinity (``1e999``) is refused with a clean 422 instead of reaching a model (and
a validation error that could not be serialised: a 500).
"""

from __future__ import annotations

import json
import math

from fastapi import APIRouter, HTTPException, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from facereel.web.errors import Invalid


def _constant(name: str):
    raise Invalid(f"{name} is not a JSON number; send a finite number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Invalid("a number is too large; send a finite number")
    return value


def loads(body: bytes):
    """Strict JSON: no NaN/Infinity, finite floats only.  Raises :class:`Invalid`."""
    try:
        return json.loads(body, parse_constant=_constant, parse_float=_float)
    except Invalid:
        raise
    except RecursionError:
        raise Invalid("the JSON body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise Invalid(f"the body is not valid JSON{where}") from None


class StrictJSONRequest(Request):
    async def json(self):
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = await run_in_threadpool(loads, body)
            except Invalid as exc:   # FastAPI re-raises only HTTPException from body parsing
                raise HTTPException(status_code=422, detail=str(exc)) from None
        return self._json


class StrictRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict_handler(request: Request):
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def router(**kwargs) -> APIRouter:
    return APIRouter(route_class=StrictRoute, **kwargs)
