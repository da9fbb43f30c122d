"""What the services' HTTP APIs share: one refusal shape `{"error": {"code", "message"}}` for
every error (a bad body is 400 `malformed`, never FastAPI's own 422 shape), the documented error
responses, bearer-token authentication through an `Authenticator`, and sums per local period."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from origin.tokens import Authenticator, Principal

COPENHAGEN = ZoneInfo("Europe/Copenhagen")  # Danish calendar days and hours: store UTC, show this
RESOLUTIONS = ("hour", "day", "week", "month", "year")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class WebhookCreated(BaseModel):
    id: int


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    owner: str | None = None
    failures: int
    last_error: str | None
    pending: int = 0
    delivered: int = 0
    failed: int = 0


def refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.response = refusal(status, code, message)


_WHAT = {400: "Malformed request", 401: "No valid bearer token", 403: "Not yours to do", 404: "Not found",
         409: "Conflicts with the current state", 413: "Body too large", 422: "Refused by the rules",
         503: "A service it depends on is unavailable; try again"}  # fmt: skip


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses to document for a route."""
    return {s: {"model": ErrorBody, "description": _WHAT[s]} for s in statuses}


def install_handlers(app: FastAPI, *refusals: type[Exception]) -> None:
    """Every error as a refusal. Each exception type in `refusals` carries `status`, `code`
    and its message."""

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        return exc.response

    for kind in refusals:

        @app.exception_handler(kind)
        async def _refusal(request: Request, exc: Any) -> JSONResponse:
            return refusal(exc.status, exc.code, str(exc))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "malformed")
        response = refusal(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return refusal(400, "malformed", "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))


def bearer(authenticator: Authenticator, how: str) -> Callable[..., Principal]:
    """A dependency: the principal of the request's bearer token, or 401."""
    scheme = HTTPBearer(auto_error=False, description=how)

    def principal(credentials: HTTPAuthorizationCredentials | None = Depends(scheme)) -> Principal:
        found = None if credentials is None else authenticator.authenticate(credentials.credentials)
        if found is None:
            raise Refused(401, "unauthenticated", "a valid bearer token is required")
        return found

    return principal


def scoped(principal: Callable[..., Principal], *needed: str) -> Callable[..., Principal]:
    """A dependency: the principal, if its token has every one of these scopes; else 403."""

    def check(who: Principal = Depends(principal)) -> Principal:
        if not set(needed) <= who.scopes:
            raise Refused(403, "insufficient_scope", f"the token lacks the scope {' and '.join(needed)}")
        return who

    return check


def cursor(after: str) -> tuple[int, str] | None:
    """A list's cursor, `BEGIN_S:KEY` (the `next` of the page before); None for the first page."""
    if not after:
        return None
    begin, _, key = after.partition(":")
    if not begin.isdigit() or len(begin) > 16 or not key:
        raise Refused(400, "malformed", "a cursor is the `next` of the page before")
    return int(begin), key


def local_period(hour: int | datetime, resolution: str) -> str:
    """The Danish hour, day, ISO week, month or year a UTC hour (seconds, or already in Danish
    time) falls in."""
    local = datetime.fromtimestamp(hour, UTC).astimezone(COPENHAGEN) if isinstance(hour, int) else hour
    if resolution == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return {"hour": local.isoformat(), "day": local.strftime("%Y-%m-%d"), "month": local.strftime("%Y-%m"),
            "year": local.strftime("%Y")}[resolution]  # fmt: skip
