"""Errors as RFC 9457 problem documents (`application/problem+json`), each with a stable `code`: the same
reason codes the events carry (`not_an_admin`, `within_15_days_of_renewal`, `insufficient_credits`, ...)."""

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
}
_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "oversize",
    415: "unsupported_media_type",
}


class ProblemDocument(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or code)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


def problem_response(request: Request, status: int, code: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


async def on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(request, exc.status, exc.code, exc.detail, **exc.extra)


async def on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem_response(request, 400, "malformed_json", "the body is not a JSON document", errors=errors)
    return problem_response(request, 422, "schema_violation", "the request does not follow the schema", errors=errors)


async def on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(request, exc.status_code, _CODES.get(exc.status_code, "error"), str(exc.detail))


async def on_error(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(request, 500, "internal_error", "an unexpected error; it has been logged")


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The problem documents an operation may answer, for its OpenAPI description."""
    return {s: {"model": ProblemDocument, "content": {PROBLEM: {}}, "description": TITLES[s]} for s in statuses}
