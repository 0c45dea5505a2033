"""Reports over HTTP: what missed deadlines cost a shop (``reports``).

- ``GET /v1/reports?shop_id=&from=&to=``: the figures as JSON (``reports.figures.Report``);
- ``GET /v1/reports/page?shop_id=&from=&to=&lang=``: the same as an HTML page with SVG charts
  (the fragment ``reports.html.render`` makes, for the web console, inside a page of its own).

Who may read which: staff and supervisors their own shop's (``shop_id`` defaults to it); the
platform and operators any shop's, or every shop's together when ``shop_id`` is left out. Each
request first folds the events stored since the last one into the fact tables (milliseconds
for a day's events; see docs/reports.md).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse

from domain.models import ID_CHARACTERS, ID_PATTERN, Principal, Role
from http_api.auth import CurrentPrincipal
from http_api.problems import ApiError, Problem, ValidationProblem
from i18n import negotiate, normalize
from reports import html
from reports.figures import MAX_PERIOD, Report, build
from reports.projector import Projector

router = APIRouter(tags=["reports"])
READERS = {Role.STAFF, Role.SUPERVISOR, Role.PLATFORM, Role.OPERATOR}
EVERY_SHOP = {Role.PLATFORM, Role.OPERATOR}
ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "role not allowed, or another shop's report"},
    404: {"model": Problem, "description": "no such shop (no case of it was ever recorded)"},
    422: {"model": ValidationProblem, "description": "bad period or shop id; errors name the parameter"},
    503: {"model": Problem, "description": "the event store is busy; retry"},
}
#: Far outside any case's life; it keeps date arithmetic away from year 1 and 9999.
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
FROM_HELP = "start of the period: a date (00:00 UTC) or an RFC 3339 time with offset; included"
TO_HELP = "end of the period: a date (00:00 UTC) or an RFC 3339 time with offset; excluded"


def install(app: FastAPI, events_dsn: str) -> None:
    app.state.reports = Projector(events_dsn)
    app.include_router(router)


def _bad(field: str, message: str) -> ApiError:
    return ApiError(422, f"{field}: {message}", errors=[{"field": field, "message": message}])


def parse_instant(field: str, text: str) -> datetime:
    """A date (``2026-12-01``, 00:00 UTC) or an RFC 3339 time with an offset."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), UTC)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(field, f"{text!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 time") from None
    if at.tzinfo is None:
        raise _bad(field, f"{text!r} has no offset: add Z or +08:00, or give a date")
    if not EARLIEST <= at < LATEST:
        raise _bad(field, f"{text!r} is out of range: reports cover {EARLIEST.year} to {LATEST.year - 1}")
    return at.astimezone(UTC)


def period(start_text: str, end_text: str) -> tuple[datetime, datetime]:
    start, end = parse_instant("from", start_text), parse_instant("to", end_text)
    if end <= start:
        raise _bad("to", f"the period ends ({end_text}) before it starts ({start_text}); 'to' must be after 'from'")
    if end - start > MAX_PERIOD:
        raise _bad("to", f"the period is {(end - start).days} days; a report covers at most {MAX_PERIOD.days} days")
    return start, end


def scope(principal: Principal, shop_id: str | None, projector: Projector) -> str | None:
    """The shop the report is about (None: every shop), or the reason it may not be read."""
    if principal.role not in READERS:
        raise ApiError(403, f"the {principal.role} role may not read reports (staff, supervisor, platform, operator)")
    if shop_id is not None and not _valid_id(shop_id):
        raise _bad("shop_id", f"{shop_id!r} is not a shop id ({ID_CHARACTERS})")
    if principal.role not in EVERY_SHOP:
        if shop_id is not None and shop_id != principal.shop_id:
            raise ApiError(403, f"shop_id: a {principal.role} of shop {principal.shop_id!r} may not read the "
                           f"report of shop {shop_id!r}", errors=[{"field": "shop_id", "message": "another shop"}])
        return principal.shop_id
    if shop_id is not None and not projector.shop_known(shop_id):
        raise ApiError(404, f"shop_id: no case of shop {shop_id!r} was ever recorded",
                       errors=[{"field": "shop_id", "message": "unknown shop"}])
    return shop_id


def _valid_id(text: str) -> bool:
    return re.fullmatch(ID_PATTERN, text) is not None


async def report_for(request: Request, principal: Principal, shop_id: str | None, start_text: str,
                     end_text: str) -> Report:
    projector: Projector = request.app.state.reports
    if principal.role not in READERS:
        raise ApiError(403, f"the {principal.role} role may not read reports (staff, supervisor, platform, operator)")
    start, end = period(start_text, end_text)
    try:
        await asyncio.to_thread(projector.catch_up)
        shop = scope(principal, shop_id, projector)
        return await asyncio.to_thread(build, projector, shop, start, end, catch_up=False)
    except sqlite3.OperationalError as err:
        raise ApiError(503, f"the event store is not available right now ({err}); retry shortly",
                       headers={"Retry-After": "1"}) from None


@router.get("/v1/reports", response_model=Report, responses=ERRORS, summary="A shop's report for a period")
async def get_report(
    request: Request, principal: CurrentPrincipal,
    start: Annotated[str, Query(alias="from", description=FROM_HELP)],
    end: Annotated[str, Query(alias="to", description=TO_HELP)],
    shop_id: Annotated[str | None, Query(description="the shop; staff default to theirs; platform and "
                                         "operators: leave it out for every shop")] = None,
) -> Report:
    """Cases opened and ended by type, reason and outcome; automatic actions by deadline; money
    paid because deadlines ran out against money the staff or the platform decided; first
    response and resolution times (p50/p90); dispute risk, escalations, arbitration; reminders
    and how many were acted on. Periods are ``[from, to)``, at most 366 days."""
    return await report_for(request, principal, shop_id, start, end)


# The page's errors are JSON like every other route's, so the route keeps the JSON default
# and documents its HTML 200 itself (a response_class would document the errors as HTML too).
PAGE: dict[int | str, dict[str, Any]] = {
    200: {"description": "the report as an HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
    **ERRORS}


@router.get("/v1/reports/page", response_model=None, responses=PAGE,
            summary="A shop's report as an HTML page with charts (zh-CN or en)")
async def get_report_page(
    request: Request, principal: CurrentPrincipal,
    start: Annotated[str, Query(alias="from", description=FROM_HELP)],
    end: Annotated[str, Query(alias="to", description=TO_HELP)],
    shop_id: Annotated[str | None, Query()] = None,
    lang: Annotated[str | None, Query(description="zh-CN or en; else the Accept-Language header")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    if lang is not None and normalize(lang) is None:
        raise _bad("lang", f"{lang!r} is not a language we write reports in (zh-CN, en)")
    locale = normalize(lang) or negotiate(accept_language)
    report = await report_for(request, principal, shop_id, start, end)
    return HTMLResponse(html.page(report, locale), headers={"Content-Language": locale})
