"""Errors as JSON: ``{"error": {"code": "...", "message": "..."}}`` with a stable code, never raw exception text.

A refused change (an invalid fleet, a taken id, an unknown tenant, a lock that stayed busy) becomes the
``ApiError`` a client can act on here too, so every status and code the API answers is chosen in one place.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tenants.edit import DuplicateTenant, EditError, RetiredTenant, UnknownTenant
from tenants.errors import FleetError, format_path, plain_message

log = logging.getLogger("signup.api")

MESSAGE_LIMIT = 500  # characters of a refusal's message


class ApiError(Exception):
    """A refusal the client can act on."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = tuple(details)
        self.headers = dict(headers or {})


def error_body(code: str, message: str, details: Sequence[str] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = list(details)
    return {"error": body}


def _respond(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.details), status_code=error.status, headers=error.headers
    )


HTTP_CODES = {
    400: ("bad_request", "the request is malformed"),
    401: ("unauthorized", "missing or invalid bearer token"),
    403: ("forbidden", "not allowed"),
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "method not allowed on this resource"),
    409: ("conflict", "conflict"),
    413: ("payload_too_large", "request body too large"),
    415: ("unsupported_media_type", "send application/json"),
}


def validation_messages(errors: Sequence[Mapping[str, Any]]) -> list[str]:
    """Pydantic errors as ``field: message`` lines, without the echoed input or documentation links."""
    out: list[str] = []
    for item in errors:
        loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "[key]")]
        where = ".".join(loc) or "body"
        kind = str(item.get("type", ""))
        if kind == "extra_forbidden":
            out.append(f"{where}: unknown field {loc[-1]!r}" if loc else "unknown field")
        elif kind == "missing":
            out.append(f"{where}: required field is missing")
        elif kind == "json_invalid":
            out.append("body: not valid JSON")
        else:
            msg = str(item.get("msg", "invalid value"))
            out.append(f"{where}: {plain_message(msg)}")
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _respond(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_messages(exc.errors())
        return _respond(ApiError(422, "invalid_request", "; ".join(details) or "invalid request", details=details))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = HTTP_CODES.get(exc.status_code, ("http_error", "request failed"))
        return _respond(ApiError(exc.status_code, code, message, headers=exc.headers))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        reference = secrets.token_hex(6)
        log.error("unhandled error (reference %s) on %s %s", reference, request.method, request.url.path, exc_info=exc)
        return _respond(ApiError(500, "internal_error", f"internal error (reference {reference}); see the server log"))


def fleet_details(exc: FleetError) -> list[str]:
    """A refused fleet's problems, each as ``field: message`` for the tenant being changed."""
    out = []
    for problem in exc.problems:
        path = problem.path
        if len(path) >= 2 and path[0] == "tenants" and isinstance(path[1], int):
            where = format_path(path[2:]) if len(path) > 2 else "tenant"
        else:
            where = format_path(path)
        out.append(f"{where}: {problem.message}")
    return out


def refusal(exc: Exception) -> ApiError | None:
    """The API error for a refused change; None for anything else (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, FleetError):
        details = fleet_details(exc)
        return ApiError(422, "invalid_tenant", "; ".join(details), details=details)
    if isinstance(exc, RetiredTenant):  # an offboarded tenant's id: its data still exists
        return ApiError(409, "tenant_retired", _one_line(exc))
    if isinstance(exc, DuplicateTenant):
        return ApiError(409, "tenant_exists", _one_line(exc))
    if isinstance(exc, UnknownTenant):
        return ApiError(404, "tenant_not_found", _one_line(exc))
    if isinstance(exc, EditError):
        return ApiError(409, "edit_refused", _one_line(exc))
    return None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:MESSAGE_LIMIT] or type(exc).__name__
