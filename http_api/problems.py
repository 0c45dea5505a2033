"""Error answers: one shape (``{"detail": ..., ...}``) and one place that picks the status.

401  no or unknown token, bad courier signature
403  the role or the shop may not do this (also the engine's Forbidden / NeedsSupervisor)
404  no such case, or a case the caller may not see (the same answer: existence never leaks)
409  wrong state, stale expected_version, a passed deadline, a case_id reused for another body
413  body over the size limit;  415  body not JSON
422  invalid body or query, bad payload, ineligible request (``errors`` name each field)
500  a bug (JSON too; details in the log), never a fault of a dependency
503  Temporal unreachable, overloaded or failing (504: too slow): ``Retry-After`` and
     ``may_have_applied`` (true: read the case before retrying the command)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from domain import errors as kinds

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than success: status, a human ``detail`` and structured extras."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.detail, **self.extra}, status_code=self.status, headers=self.headers)


# --------------------------------------------------------------------------------------------
# Documented shapes (for /openapi.json)


class Problem(BaseModel):
    detail: str = Field(description="what went wrong, for people")
    kind: str | None = Field(default=None, description="the engine's refusal kind, e.g. Forbidden, NeedsSupervisor")


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the field, e.g. order.items.0.quantity")
    message: str


class ValidationProblem(Problem):
    errors: list[FieldError] = Field(default_factory=list)


class ConflictProblem(Problem):
    state: str | None = Field(default=None, description="the case's current state")
    allowed_actions: list[str] | None = Field(default=None, description="what the caller's role may do now")
    next_actions_by_role: dict[str, list[str]] | None = Field(
        default=None, description="what every role may do now (role -> actions)")
    version: int | None = Field(default=None, description="the case's current version")
    already_happened: str | None = Field(default=None, description="the automatic action that overtook the request")
    deadline: str | None = Field(default=None, description="DeadlinePassed: the deadline that passed")
    case_id: str | None = Field(default=None, description="CaseConflict: the case_id already in use")


class ForbiddenProblem(Problem):
    limit: int | None = Field(default=None, description="NeedsSupervisor: the staff refund limit, minor units")


class UnknownActionProblem(Problem):
    actions: list[str]


# --------------------------------------------------------------------------------------------
# Reshaping


def field_errors(err: ValidationError | RequestValidationError, *, strip: tuple[str, ...] = ()) -> list[dict[str, str]]:
    out = []
    for e in err.errors():
        loc = [str(p) for p in e.get("loc", ())]
        if loc and loc[0] in strip:
            loc = loc[1:]
        out.append({"field": ".".join(loc) or "body", "message": str(e.get("msg", "invalid"))})
    return out


def invalid(errors: list[dict[str, str]], what: str = "request") -> ApiError:
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    detail = f"invalid {what}: {first['field']}: {first['message']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return ApiError(422, detail, errors=errors)


def refusal_status(kind: str) -> int:
    if kind in kinds.CONFLICT_TYPES:
        return 409
    if kind in kinds.UNPROCESSABLE_TYPES:
        return 422
    if kind in kinds.FORBIDDEN_TYPES:
        return 403
    return 500


#: Seconds a client should wait before retrying after a 503 or 504 (``Retry-After``).
RETRY_AFTER_SECONDS = 2

#: Statuses that mean our own call was wrong (a bug: 500). Every other status is the engine's
#: fault (unreachable, overloaded, restarting, a connection cut mid-call, no worker polling:
#: FAILED_PRECONDITION "no poller seen for task queue recently"): 503, retry.
_OUR_BUG = {
    RPCStatusCode.INVALID_ARGUMENT,
    RPCStatusCode.OUT_OF_RANGE,
    RPCStatusCode.UNIMPLEMENTED,
    RPCStatusCode.ALREADY_EXISTS,
    RPCStatusCode.NOT_FOUND,
}


#: What a client must do when a command's outcome is unknown (a timeout after it was sent).
OUTCOME_UNKNOWN = "the case engine did not answer in time; the command may or may not have been applied: read the case, then retry if it did not change"
UNAVAILABLE = "the case engine is not reachable right now; retry shortly"
UNAVAILABLE_MAYBE_APPLIED = (
    "the case engine is not reachable right now; the command may or may not have been applied: "
    "read the case, then retry if it did not change"
)


def dependency_fault(status: int, detail: str, *, may_have_applied: bool) -> ApiError:
    """A 503/504: a dependency failed, not the request. ``may_have_applied`` tells the client
    whether to read the case before retrying (a command that reached the engine may have run)."""
    return ApiError(
        status, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, may_have_applied=may_have_applied
    )


def engine_failure(err: RPCError, *, writes: bool = True) -> ApiError:
    """A Temporal call that failed for reasons of its own (not the caller's input).

    ``writes``: the request may change something (any method but GET and HEAD); a failed read
    never applied anything."""
    timed_out = err.status == RPCStatusCode.DEADLINE_EXCEEDED or (
        err.status == RPCStatusCode.CANCELLED and "timeout" in err.message.lower()
    )
    if timed_out:
        # The SDK's own RPC timeout (rpc_timeout) surfaces as CANCELLED "Timeout expired".
        log.warning("Temporal call timed out: %s", err.message)
        return dependency_fault(504, OUTCOME_UNKNOWN if writes else UNAVAILABLE, may_have_applied=writes)
    if err.status in _OUR_BUG:
        log.error("unexpected Temporal error: %s (%s)", err.message, err.status)
        return ApiError(500, "the case engine failed; operators have the details")
    log.warning("Temporal call failed: %s (%s)", err.message, err.status)
    # Overloaded (RESOURCE_EXHAUSTED) is refused before anything runs; any other failure of a
    # command may have come after the engine took it.
    applied = writes and err.status != RPCStatusCode.RESOURCE_EXHAUSTED
    return dependency_fault(503, UNAVAILABLE_MAYBE_APPLIED if applied else UNAVAILABLE, may_have_applied=applied)


def _writes(request: Request) -> bool:
    return request.method not in ("GET", "HEAD")


class UnavailableProblem(Problem):
    may_have_applied: bool = Field(
        description="true: a command may have been applied before the failure; read the case before retrying it"
    )


#: The answers of every route that needs the case engine, for ``responses=`` (OpenAPI).
UNAVAILABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        "model": UnavailableProblem,
        "description": "the case engine is unreachable or overloaded; retry after Retry-After seconds "
        "(read the case first if may_have_applied)",
    },
    504: {
        "model": UnavailableProblem,
        "description": "the case engine did not answer in time; as 503",
    },
}


# --------------------------------------------------------------------------------------------
# Handlers


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid(field_errors(exc, strip=("body", "query", "path", "header")), "request").response()

    @app.exception_handler(RPCError)
    async def _rpc(request: Request, exc: RPCError) -> JSONResponse:
        return engine_failure(exc, writes=_writes(request)).response()

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def _update_timeout(request: Request, exc: WorkflowUpdateRPCTimeoutOrCancelledError) -> JSONResponse:
        log.warning("command timed out waiting for the case engine: %s", exc)
        writes = _writes(request)
        return dependency_fault(504, OUTCOME_UNKNOWN if writes else UNAVAILABLE, may_have_applied=writes).response()

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # Still a JSON answer; the exception itself goes to the server's log.
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error; operators have the details"}, status_code=500)
