"""The error bodies of the REST API and the ``responses=`` that document them on every operation."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request, Response
from fastapi.exception_handlers import http_exception_handler
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorOut(BaseModel):
    """An error answer: one sentence saying what is wrong."""

    detail: str


class ValidationIssue(BaseModel):
    """One part of the request that does not match the schema."""

    loc: list[str | int] = Field(description="Where: location (body, query, path, header) then the field path.")
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """A refused request: field errors when it does not match the schema, one sentence for a refused value."""

    detail: list[ValidationIssue] | str = Field(
        description="A list of field errors if the request does not match the schema; a sentence if it does but "
        "a value is not acceptable (for example a time window that is too wide)."
    )


_WHY: dict[int, tuple[type[BaseModel], str]] = {
    400: (ErrorOut, "The request cannot be carried out."),
    401: (ErrorOut, "Missing, invalid or revoked bearer token."),
    402: (ErrorOut, "The wallet does not cover the amount, or the payment provider declined."),
    403: (ErrorOut, "The token's role or store may not do this."),
    404: (ErrorOut, "A resource named in the path or body does not exist."),
    409: (ErrorOut, "Conflicts with existing data or with the resource's state."),
    422: (ValidationErrorOut, "The request does not match the schema, or a value is not acceptable."),
    429: (ErrorOut, "Too many attempts: wait and try again."),
    503: (ErrorOut, "The database, key store or downlink is unavailable; retry later."),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return ``responses=`` documenting ``statuses`` with their error model."""
    return {status: {"model": _WHY[status][0], "description": _WHY[status][1]} for status in statuses}


# Every ``/api/v1`` operation: authenticated, may name rows that do not exist or clash, validated, database-backed.
API_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 503)


def _documented_methods(app: Any, path: str) -> set[str]:
    """The methods the OpenAPI documents for ``path`` (empty for paths outside the schema)."""
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"), {m.upper() for m in ops})
            for template, ops in app.openapi()["paths"].items()
        ]
        app.state.allow_table = table
    return {method for pattern, methods in table if pattern.match(path) for method in methods}


async def http_error(request: Request, err: Exception) -> Response:
    """Answer an HTTP error as FastAPI does, but a 405's ``Allow`` lists every documented method of the path.

    FastAPI makes one route per method, and Starlette's 405 names only the methods of the route it tried.
    """
    assert isinstance(err, StarletteHTTPException)
    if err.status_code == 405:
        allowed = _documented_methods(request.app, request.url.path)
        if allowed:
            err.headers = {**(err.headers or {}), "Allow": ", ".join(sorted(allowed))}
    return await http_exception_handler(request, err)
