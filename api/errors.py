"""Errors as the API returns them: JSON ``{"error": <status phrase>, "reason": <why>}``, mapped
from domain errors in one middleware."""

from __future__ import annotations

import logging

from aiohttp import web

from store.alerts import AlertNotFound

from .tokens import TokenError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


def error(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    from http import HTTPStatus

    return web.json_response({"error": HTTPStatus(status).phrase, "reason": reason}, status=status, headers=headers)


@web.middleware
async def errors(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return error(e.status, e.reason, e.headers)
    except AlertNotFound as e:
        return error(404, str(e))
    except TokenError as e:
        return error(401, str(e), {"WWW-Authenticate": 'Bearer realm="pingan"'})
    except web.HTTPRequestEntityTooLarge as e:
        return error(413, e.text or "the request body is too large")
    except web.HTTPException as e:
        if e.status < 400:
            raise
        kept = {k: v for k, v in e.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}
        return error(e.status, e.text or e.reason, kept)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error(500, "internal error (logged)")
