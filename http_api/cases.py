"""``/v1/cases``: open, read, list, and one route per action.

Case ids are the shop's own, so a path names a case for its caller (:func:`case_ref`): staff,
supervisors and a shop's system by the case id alone (``c-1``, in their shop), anyone by the
global reference ``{shop_id}:{case_id}`` (``shop-1:c-1``), which platform, operator, buyer and
shop-less system callers must use.

Every route authenticates first. Reading or acting on a case the caller may not see is a ``404``
exactly like a case that does not exist; a role that may never take an action is a ``403``
before the engine is asked; the engine's own refusals map through ``problems.refusal_status``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, ValidationError

from domain import errors as kinds
from domain.commands import BadPayload, parse_command
from domain.models import CaseRequest, CaseState, CaseType, CaseView, Principal, Role, WaitingOn
from domain.rules import ACTION_TABLE, ACTIONS
from http_api.access import ACTION_ROLES, LISTERS, can_see, may_take, view_for
from http_api.auth import CurrentPrincipal
from http_api.bodies import read_object
from http_api.context import Service, State, TemporalClient
from http_api.observability import count_case_opened
from http_api.problems import (
    UNAVAILABLE_RESPONSES,
    ApiError,
    ConflictProblem,
    ForbiddenProblem,
    Problem,
    UnknownActionProblem,
    ValidationProblem,
    field_errors,
    invalid,
    refusal_status,
)
from http_api.schemas import COMMAND_MODELS, CasePage, CaseSummary
from http_api.visibility import CaseFilter, list_page, summary
from runtime.cases import CaseNotFound, CaseRefused, CaseService
from workflows.ids import SEPARATOR, CaseRef, is_id

log = logging.getLogger(__name__)

CaseIdPath = Annotated[
    str,
    Path(
        description=f"the case: `{{shop_id}}{SEPARATOR}{{case_id}}` (e.g. `shop-1{SEPARATOR}c-1`); staff, "
        "supervisors and a shop's system may give the case id alone (their shop's case)"
    ),
]

#: Callers bound to one shop (their principal's ``shop_id``); a bare case id is in that shop.
SHOP_SCOPED = frozenset({Role.STAFF, Role.SUPERVISOR, Role.SYSTEM})

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no or unknown token"},
    **UNAVAILABLE_RESPONSES,  # every route with a token needs the case engine
}
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "body too large"},
    415: {"model": Problem, "description": "body is not JSON"},
    422: {"model": ValidationProblem, "description": "invalid body, payload or request; errors name the fields"},
}
CASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such case, or not one the caller may see"},
}
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    403: {
        "model": ForbiddenProblem,
        "description": "the caller's role may not take this action (or needs a supervisor)",
    },
    **CASE_RESPONSES,
    409: {"model": ConflictProblem, "description": "wrong state, stale expected_version or a passed deadline"},
    **BODY_RESPONSES,
}


def body_doc(schema_name: str, *, required: bool) -> dict[str, Any]:
    """``openapi_extra`` for a body the route reads itself (see ``app.openapi``: the schema is added)."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
        }
    }


def not_found(case_id: str) -> ApiError:
    shown = case_id if is_id(case_id) or CaseRef.parse(case_id) else "with that id"
    return ApiError(404, f"case {shown} not found")


def case_ref(case_id: str, principal: Principal) -> CaseRef:
    """The case that the path's ``case_id`` names for this caller. Another shop's case is the
    same ``404`` as a case that does not exist; a bare id from a caller bound to no shop is a
    ``422`` (it names no case until the shop is given)."""
    ref = CaseRef.parse(case_id)
    shop_id = principal.shop_id if principal.role in SHOP_SCOPED else None
    if ref is None and is_id(case_id):
        if shop_id is None:
            message = f"a {principal.role} names a case by its shop too: {{shop_id}}{SEPARATOR}{case_id}"
            raise ApiError(422, f"invalid case_id: {message}", errors=[{"field": "case_id", "message": message}])
        ref = CaseRef(shop_id, case_id)
    if ref is None or (shop_id is not None and ref.shop_id != shop_id):
        raise not_found(case_id)
    return ref


async def visible_view(case_id: str, principal: Principal, service: CaseService) -> CaseView:
    """The case if the caller may see it; otherwise the same 404 as for a missing case."""
    try:
        view = await service.view(case_ref(case_id, principal))
    except CaseNotFound:
        raise not_found(case_id) from None
    if not can_see(principal, shop_id=view.shop_id, buyer_id=view.buyer_id):
        raise not_found(case_id)
    return view


async def refusal(err: CaseRefused, principal: Principal, service: CaseService, case: CaseRef | None) -> ApiError:
    """The engine's refusal as an answer; a 409 says what the caller may do now."""
    status = refusal_status(err.kind)
    details = err.details
    if status == 422:
        errors = details.get("errors") or [{"field": "payload", "message": err.message}]
        return ApiError(422, err.message, kind=err.kind, errors=errors)
    if status == 403:
        return ApiError(403, err.message, kind=err.kind, limit=details.get("limit"))
    if status == 409:
        message = err.message
        extra: dict[str, Any] = {
            "state": details.get("state"),
            "version": details.get("version"),
            "already_happened": details.get("already_happened"),
            "deadline": details.get("deadline"),
        }
        if err.kind == kinds.CASE_CONFLICT:
            extra["case_id"] = details.get("case_id")
        elif case is not None:
            try:
                now = await service.view(case)
            except CaseNotFound:
                extra["allowed_actions"] = []
            else:
                # allowed_actions: this caller's; next_actions_by_role: everyone's. The message
                # names the caller's, read from the same view, so the two always agree.
                mine = view_for(principal, now).next_actions
                extra.update(state=now.state, version=now.version, allowed_actions=mine,
                             next_actions_by_role=now.actions_by_role)
                if "situation" in err.details:
                    message = f"{err.details['situation']}. You ({principal.role}) may now: {', '.join(mine) or 'nothing'}"
        return ApiError(409, message, kind=err.kind, **extra)
    log.error("unexpected refusal %s: %s %s", err.kind, err.message, details)
    return ApiError(500, "the case engine refused in an unexpected way; operators have the details")


router = APIRouter(prefix="/v1", tags=["cases"])


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseView,
    summary="Open a case (system)",
    responses={
        200: {"model": CaseView, "description": "an identical retry of a case already opened"},
        **AUTH_RESPONSES,
        403: {"model": Problem, "description": "only a system opens cases (a shop's system: for its shop)"},
        409: {"model": ConflictProblem, "description": "this case_id was opened with a different body"},
        **BODY_RESPONSES,
    },
    openapi_extra=body_doc("CaseRequest", required=True),
)
async def open_case(request: Request, response: Response, principal: CurrentPrincipal, service: Service) -> CaseView:
    """``201`` with the new case; ``200`` for an identical retry; ``409`` for the same ``case_id``
    with a different body; ``422`` for an invalid or ineligible request (``errors`` say which
    field and why)."""
    if principal.role != Role.SYSTEM:
        raise ApiError(403, "only a system (the shop's backend) opens cases", kind=kinds.FORBIDDEN)
    body = await read_object(request, required=True)
    try:
        case_request = CaseRequest.model_validate(body)
    except ValidationError as err:
        raise invalid(field_errors(err), "case request") from None
    if principal.shop_id is not None and case_request.order.shop_id != principal.shop_id:
        raise ApiError(403, f"this system opens cases of shop {principal.shop_id} only", kind=kinds.FORBIDDEN)
    try:
        opened = await service.open_case(case_request, principal)
    except CaseRefused as err:
        raise await refusal(err, principal, service, None) from None
    case = CaseRef(case_request.order.shop_id, case_request.case_id)
    view = await service.view(case)
    response.status_code = 201 if opened.created else 200
    if opened.created:
        count_case_opened(request, case_request.type)
    response.headers["Location"] = f"/v1/cases/{case}"  # the global reference: it works for every caller
    return view_for(principal, view)


@router.get(
    "/cases/{case_id}",
    response_model=CaseView,
    summary="Read a case",
    responses={
        **AUTH_RESPONSES,
        **CASE_RESPONSES,
        422: {"model": ValidationProblem, "description": "a case id alone from a caller bound to no shop"},
    },
)
async def get_case(case_id: CaseIdPath, principal: CurrentPrincipal, service: Service) -> CaseView:
    """The case view; ``next_actions`` lists what the caller's role may do now."""
    return view_for(principal, await visible_view(case_id, principal, service))


@router.get(
    "/cases",
    response_model=CasePage,
    summary="List cases (staff, supervisor, platform, operator; a buyer lists their own)",
    responses={
        **AUTH_RESPONSES,
        403: {
            "model": Problem,
            "description": "the role may not list, staff asked for another shop, or a buyer for another buyer",
        },
        422: {"model": ValidationProblem, "description": "a filter is invalid"},
    },
)
async def list_cases(
    principal: CurrentPrincipal,
    client: TemporalClient,
    api: State,
    state: Annotated[list[CaseState] | None, Query(description="one or more states (repeat the parameter)")] = None,
    shop_id: Annotated[str | None, Query(max_length=64, description="staff and supervisors: their own shop")] = None,
    waiting_on: WaitingOn | None = None,
    deadline_before: Annotated[
        AwareDatetime | None, Query(description="RFC 3339 with offset (URL-encode the +)")
    ] = None,
    dispute_risk: bool | None = None,
    type: CaseType | None = None,
    buyer_id: Annotated[str | None, Query(max_length=64)] = None,
    order_id: Annotated[str | None, Query(max_length=64)] = None,
    tracking_number: Annotated[str | None, Query(max_length=64, description="return or outbound parcel")] = None,
    updated_after: Annotated[
        AwareDatetime | None,
        Query(description="only cases changed after this time (RFC 3339 with offset), oldest change first, from "
              "the event store's read model (no indexing lag); the page's `cursor` continues gap-free with "
              "GET /v1/events/cases?after="),
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096, description="next_page_token of the page before")] = None,
    next_page_token: Annotated[str | None, Query(max_length=4096, include_in_schema=False)] = None,
    *,
    request: Request,
) -> CasePage:
    """Cases matching every filter given, from Temporal visibility (rows may lag a change by a
    moment). A case whose refund is being paid lists as ``refunding`` only once the payout's first
    attempt has failed or not succeeded within 2 minutes; until then (usually a fraction of a
    second) its row keeps what it listed before, state, ``waiting_on`` and deadline included.
    Staff and supervisors see their own shop only; a buyer sees their own cases only.

    With ``updated_after`` the list comes from the event store's ``cases`` read model instead,
    which the case writes in the same step as its change (before the command's answer): a case
    changed a moment ago is there at once, with its newest state. Rows come in the order they
    were changed; a case changed again while you page moves behind your position and comes again,
    so paging to the end never skips a change. To catch up after an outage, ask with the time you
    last synced (minus a minute's margin; dedupe by ``version``), then follow
    ``GET /v1/events/cases?after=<cursor>`` from the last page's ``cursor``, which never skips."""
    if principal.role == Role.BUYER:
        # A buyer lists their own after-sales requests, as on every marketplace.
        if buyer_id is not None and buyer_id != principal.id:
            raise ApiError(403, f"buyer {principal.id} lists their own cases only", kind=kinds.FORBIDDEN)
        buyer_id = principal.id
    elif principal.role not in LISTERS:
        raise ApiError(403, f"a {principal.role} may not list cases", kind=kinds.FORBIDDEN)
    if principal.role in (Role.STAFF, Role.SUPERVISOR):
        if shop_id is not None and shop_id != principal.shop_id:
            raise ApiError(403, f"staff of shop {principal.shop_id} list that shop's cases only", kind=kinds.FORBIDDEN)
        shop_id = principal.shop_id
    if updated_after is not None:
        return await changed_cases_page(
            request,
            updated_after,
            page_size=page_size,
            page_token=page_token or next_page_token,
            tracking_number=tracking_number,
            states=[CaseState(s).value for s in state or ()],
            deadline_before=deadline_before,
            shop_id=shop_id,
            buyer_id=buyer_id,
            order_id=order_id,
            waiting_on=WaitingOn(waiting_on).value if waiting_on else None,
            type=CaseType(type).value if type else None,
            dispute_risk=dispute_risk,
        )
    case_filter = CaseFilter(
        states=tuple(state or ()),
        shop_id=shop_id,
        buyer_id=buyer_id,
        order_id=order_id,
        waiting_on=waiting_on,
        type=type,
        deadline_before=deadline_before,
        dispute_risk=dispute_risk,
        tracking_number=tracking_number,
    )
    executions, token = await list_page(
        client, case_filter, page_size=page_size, page_token=page_token or next_page_token, tokens=api.page_tokens
    )
    return CasePage(items=[summary(e) for e in executions], next_page_token=token)


#: ``next_page_token`` of a list with ``updated_after``: the read model's change cursor.
READ_MODEL_TOKEN = re.compile(r"^c([0-9]{1,18})$")


async def changed_cases_page(
    request: Request,
    updated_after: datetime,
    *,
    page_size: int,
    page_token: str | None,
    tracking_number: str | None,
    states: list[str],
    deadline_before: datetime | None,
    **equal: str | bool | None,
) -> CasePage:
    """One page of ``GET /v1/cases?updated_after=``, from the event store's ``cases`` read model."""
    if tracking_number is not None:
        raise invalid(
            [{"field": "tracking_number", "message": "cannot be combined with updated_after (the read model does "
              "not index parcels); list by tracking_number alone"}], "filter")
    for name, at in (("updated_after", updated_after), ("deadline_before", deadline_before)):
        try:
            year = at.astimezone(UTC).year if at is not None else 2000
        except OverflowError:
            year = 0
        if not 1970 <= year <= 9999:
            raise invalid([{"field": name, "message": "a time between 1970 and 9999"}], "filter")
    after = 0
    if page_token:
        match = READ_MODEL_TOKEN.fullmatch(page_token)
        if match is None:
            raise invalid([{"field": "page_token", "message": "not the next_page_token of an earlier page of a "
                            "list with updated_after"}], "query")
        after = int(match.group(1))
    store = request.app.state.events
    try:
        newest = await asyncio.to_thread(store.newest_cursor)  # before the rows: a later change is after it
        rows = await asyncio.to_thread(
            lambda: store.cases_updated_after(
                updated_after, after, page_size + 1, states=states, deadline_before=deadline_before, **equal
            )
        )
    except sqlite3.OperationalError as err:
        raise ApiError(
            503, f"the event store is not available right now ({err}); retry shortly", headers={"Retry-After": "1"}
        ) from None
    more = len(rows) > page_size
    rows = rows[:page_size]
    items = [
        CaseSummary(
            case_id=r["case_id"],
            state=r["state"],
            type=r["type"],
            shop_id=r["shop_id"],
            order_id=r["order_id"],
            buyer_id=r["buyer_id"],
            waiting_on=r["waiting_on"],
            deadline=r["deadline"],
            dispute_risk=bool(r["dispute_risk"]),
            opened_at=r["opened_at"],
            running=None,
            updated_at=r["updated_at"],
            version=r["version"],
        )
        for r in rows
    ]
    last = rows[-1]["last_seq"] if rows else after
    return CasePage(
        items=items,
        next_page_token=f"c{last}" if more else None,
        cursor=last if more else max(last, newest),
    )


# --------------------------------------------------------------------------------------------
# Commands


async def run_command(
    action: str, case_id: str, request: Request, principal: Principal, service: CaseService
) -> CaseView:
    """A valid command goes straight to the engine, which checks who may see the case, its state
    and the version in the update's validator: one round trip, not a read and then a write
    (README, "Capacity": command latency). Refusals read the case first, so a stranger gets the
    same 404 as for a missing case whatever else is wrong with the request."""
    case = case_ref(case_id, principal)
    if not may_take(principal, action):
        await visible_view(case_id, principal, service)
        allowed = ", ".join(sorted(r.value for r in ACTION_ROLES[action]))
        raise ApiError(403, f"a {principal.role} may not {action}; only {allowed} may", kind=kinds.FORBIDDEN)
    try:
        command = parse_command(action, await read_object(request, required=False))
    except BadPayload as err:
        await visible_view(case_id, principal, service)
        raise invalid(err.errors, f"{action} payload") from None
    except ApiError:
        await visible_view(case_id, principal, service)
        raise
    try:
        updated = await service.command(case, action, principal, command)
    except CaseRefused as err:
        if err.kind == kinds.NOT_YOURS:
            raise not_found(case_id) from None
        raise await refusal(err, principal, service, case) from None
    except CaseNotFound:
        # Missing, or ended and its workflow finished: only a caller who may see it learns which.
        view = await visible_view(case_id, principal, service)
        raise ApiError(
            409,
            f"case {case_id} has ended ({view.state}); nothing more can be done",
            kind=kinds.WRONG_STATE,
            state=view.state,
            allowed_actions=[],
        ) from None
    if not can_see(principal, shop_id=updated.shop_id, buyer_id=updated.buyer_id):  # the engine checked
        raise not_found(case_id)
    return view_for(principal, updated)


def _command_route(action: str):  # noqa: ANN202 - a route function
    async def command(case_id: CaseIdPath, request: Request, principal: CurrentPrincipal, service: Service) -> CaseView:
        return await run_command(action, case_id, request, principal, service)

    command.__doc__ = (
        f"{ACTION_TABLE[action].description}. Body: the action's payload and optional expected_version; "
        "200 with the new case view."
    )
    return command


for _action in ACTIONS:
    router.add_api_route(
        f"/cases/{{case_id}}/{_action}",
        _command_route(_action),
        methods=["POST"],
        response_model=CaseView,
        summary=ACTION_TABLE[_action].description,
        operation_id=_action,
        name=_action,
        responses=COMMAND_RESPONSES,
        openapi_extra=body_doc(COMMAND_MODELS[_action].__name__, required=False),
    )


@router.post(
    "/cases/{case_id}/{action}",
    response_model=CaseView,
    include_in_schema=False,
    responses={404: {"model": UnknownActionProblem}},
)
async def other_action(
    case_id: str, action: str, request: Request, principal: CurrentPrincipal, service: Service
) -> CaseView:
    """``offer-partial-refund`` is ``offer_partial_refund``; anything else is an unknown action."""
    normalized = action.replace("-", "_")
    if normalized in COMMAND_MODELS:
        return await run_command(normalized, case_id, request, principal, service)
    raise ApiError(404, f"unknown action {action[:64]!r}", actions=list(ACTIONS))
