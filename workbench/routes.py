"""The workbench's pages: sign-in, the queues, a case and its action forms.

Every read and command goes through the API's own functions in this process (``http_api.cases``:
``case_ref``, ``visible_view``, ``refusal``; ``http_api.access``: ``view_for``, ``may_take``;
``runtime.cases.CaseService``), so the workbench shows and allows exactly what the API does, and
another shop's case is "not found" here too.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

import i18n
from casefeed.queue import Queue, QueueFilter, QueueReader
from domain import errors as kinds
from domain.commands import COMMANDS, BadPayload, parse_command
from domain.models import CaseState, CaseType, CaseView, Principal, Reason, Role
from http_api.access import ACTION_ROLES, may_take, view_for
from http_api.auth import current_principal
from http_api.cases import case_ref, refusal, visible_view
from http_api.context import ApiState
from http_api.problems import ApiError, dependency_fault, engine_failure, refusal_status
from http_api.reports import report_for
from i18n import words
from reports import html as report_html
from runtime.cases import CaseNotFound, CaseRefused
from workbench import text as labels
from workbench.forms import FormSpec, error_field, form_for, from_minor, payload_from_form
from workbench.session import COOKIE, PRE_COOKIE, SESSION_SECONDS, Session, Sessions
from workbench.text import Text, time_zone_or_default

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PREFIX = "/workbench"
LANG_COOKIE = "wb_lang"
TZ_COOKIE = "wb_tz"
PAGE_SIZE = 50

#: The queues each role works from, the first one the default.
VIEWS: dict[Role, tuple[Queue, ...]] = {
    Role.STAFF: (Queue.WAITING,),
    Role.SUPERVISOR: (Queue.WAITING, Queue.OVER_LIMIT, Queue.ATTENTION, Queue.DISPUTE),
    Role.PLATFORM: (Queue.ESCALATED,),
    Role.OPERATOR: (Queue.OPEN, Queue.ESCALATED),
}
VIEW_LABELS = {
    Queue.WAITING: "Waiting on the shop",
    Queue.OVER_LIMIT: "Refunds over the staff limit",
    Queue.ATTENTION: "Needs attention",
    Queue.DISPUTE: "Dispute risk",
    Queue.ESCALATED: "Escalated: awaiting a decision",
    Queue.OPEN: "All open cases",
}

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@dataclass
class Workbench:
    sessions: Sessions
    queues: QueueReader
    templates: Environment


def install(app: Any, key: bytes, events_dsn: str) -> None:
    """Mount the workbench on the API app (``http_api.app.create_app``)."""
    from fastapi.staticfiles import StaticFiles

    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    app.state.workbench = Workbench(Sessions(key), QueueReader(events_dsn), templates)
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="workbench-static")


# --------------------------------------------------------------------------------------------
# Plumbing: language, session, rendering


def _wb(request: Request) -> Workbench:
    wb: Workbench = request.app.state.workbench
    return wb


def _api(request: Request) -> ApiState:
    api: ApiState = request.app.state.api
    return api


def text_for(request: Request) -> Text:
    chosen = i18n.normalize(request.cookies.get(LANG_COOKIE))
    locale = chosen or i18n.negotiate(request.headers.get("accept-language"))
    return Text(locale, time_zone_or_default(unquote(request.cookies.get(TZ_COOKIE) or "")))


def _secure(request: Request) -> bool:
    """Cookies are ``Secure`` except over plain HTTP on this machine (the dev stack)."""
    return request.url.scheme == "https" or (request.url.hostname or "") not in ("127.0.0.1", "localhost", "::1")


SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(request: Request, template: str, *, status: int = 200, session: Session | None = None,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    t = text_for(request)
    wb = _wb(request)
    page = wb.templates.get_template(template).render(
        _=t, t=t, L=labels, W=words, request=request, session=session, principal=session.principal if session else None,
        csrf=wb.sessions.csrf(session.nonce) if session else None, prefix=PREFIX,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        units=t.unit_patterns(), **context)
    return HTMLResponse(page, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def error_page(request: Request, session: Session | None, status: int, message: str,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    return render(request, "error.html", status=status, session=session, message=message, headers=headers)


def current_session(request: Request) -> Session | None:
    return _wb(request).sessions.read(request.cookies.get(COOKIE))


def to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/sign-in?{urlencode({'next': target})}", status_code=303)


def _safe_next(value: str | None) -> str:
    """Only a workbench path (no open redirect)."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{PREFIX}/queue"


async def read_form(request: Request) -> dict[str, str]:
    raw = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(raw, keep_blank_values=True, max_num_fields=200))


def _same_origin(request: Request) -> bool:
    """A POST whose ``Origin`` names another host is refused (browsers send it on every POST). The
    scheme is not compared: behind a TLS-terminating proxy the app sees plain HTTP."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # an older browser or a non-browser client: the CSRF token still decides
    return origin != "null" and origin.split("://", 1)[-1] == request.url.netloc


def _engine_fault(err: Exception, *, writes: bool) -> ApiError:
    if isinstance(err, RPCError):
        return engine_failure(err, writes=writes)
    return dependency_fault(504, "the case engine did not answer in time; the command may or may not have been "
                            "applied: reload the case before trying again", may_have_applied=writes)


# --------------------------------------------------------------------------------------------
# Sign-in


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/queue" if current_session(request) else f"{PREFIX}/sign-in", status_code=303)


def _sign_in_page(request: Request, *, status: int = 200, error: str | None = None) -> HTMLResponse:
    nonce = request.cookies.get(PRE_COOKIE)
    fresh = nonce is None
    nonce = nonce or Sessions.new_nonce()
    response = render(request, "sign_in.html", status=status, error=error,
                      pre_csrf=_wb(request).sessions.csrf(nonce), next=_safe_next(request.query_params.get("next")))
    if fresh:
        response.set_cookie(PRE_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(request),
                            path=PREFIX)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    t = text_for(request)
    form = await read_form(request)
    wb = _wb(request)
    if not _same_origin(request) or not wb.sessions.csrf_ok(request.cookies.get(PRE_COOKIE), form.get("csrf")):
        return _sign_in_page(request, status=403, error=t("The form expired or came from elsewhere: try again."))
    token = form.get("token", "").strip()
    if not token:
        return _sign_in_page(request, status=422, error=t("Enter your API token."))
    try:
        principal = await current_principal(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))
    except ApiError as err:
        status = 503 if err.status == 503 else 401
        message = t("This token is not valid.") if status == 401 else t("Signing in is not possible right now; retry shortly.")
        return _sign_in_page(request, status=status, error=message)
    if principal.role not in VIEWS:
        return _sign_in_page(request, status=403, error=t(
            "The workbench is for shop staff, supervisors, the platform and operators; a {role} token cannot sign in.",
            role=t.word(words.ROLES, principal.role)))
    cookie, _ = wb.sessions.issue(principal)
    next_url = _safe_next(form.get("next"))
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(COOKIE, cookie, max_age=SESSION_SECONDS, httponly=True, samesite="lax",
                        secure=_secure(request), path=PREFIX)
    response.delete_cookie(PRE_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    session = current_session(request)
    form = await read_form(request)
    if session is not None and not _wb(request).sessions.csrf_ok(session.nonce, form.get("csrf")):
        return error_page(request, session, 403, text_for(request)("The form expired or came from elsewhere: reload the page and try again."))
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get("/lang")
async def switch_language(request: Request) -> Response:
    """The language switch: a preference cookie (it changes nothing on the server)."""
    chosen = i18n.normalize(request.query_params.get("to"))
    response = RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    if chosen:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", secure=_secure(request),
                            path=PREFIX)
    return response


# --------------------------------------------------------------------------------------------
# Queues


def _case_link(principal: Principal, shop_id: str, case_id: str) -> str:
    ref = case_id if principal.role in (Role.STAFF, Role.SUPERVISOR) else f"{shop_id}:{case_id}"
    return f"{PREFIX}/cases/{quote(ref, safe=':')}"


@router.get("/queue")
async def queue_page(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return to_sign_in(request)
    t = text_for(request)
    principal = session.principal
    views = VIEWS[principal.role]
    q = request.query_params
    errors: dict[str, str] = {}
    view = views[0]
    if q.get("view"):
        if q["view"] in [v.value for v in views]:
            view = Queue(q["view"])
        else:
            errors["view"] = t("Choose one of the queues shown.")
    states = tuple(q.getlist("state"))
    bad_states = [s for s in states if s not in set(CaseState)]
    if bad_states:
        errors["state"] = t("Unknown state: {value}", value=", ".join(bad_states))
        states = tuple(s for s in states if s in set(CaseState))
    case_type = q.get("type") or None
    if case_type is not None and case_type not in set(CaseType):
        errors["type"] = t("Unknown type: {value}", value=case_type)
        case_type = None
    reason = q.get("reason") or None
    if reason is not None and reason not in set(Reason):
        errors["reason"] = t("Unknown reason: {value}", value=reason)
        reason = None
    risk_text = q.get("dispute_risk") or ""
    dispute_risk = {"": None, "yes": True, "no": False}.get(risk_text)
    if risk_text not in ("", "yes", "no"):
        errors["dispute_risk"] = t("Choose yes, no or any.")
    page_text = q.get("page") or "1"
    page = int(page_text) if page_text.isdigit() and 0 < int(page_text) < 1_000_000 else 0
    if page == 0:
        errors["page"] = t("A page is a whole number of 1 or more.")
        page = 1
    shop = principal.shop_id if principal.role in (Role.STAFF, Role.SUPERVISOR) else None
    flt = QueueFilter(states=states, type=case_type, reason=reason, dispute_risk=dispute_risk)
    limit = _api(request).settings.policy.money.staff_refund_limit
    try:
        result = await asyncio.to_thread(_wb(request).queues.page, view, shop_id=shop, flt=flt, staff_limit=limit,
                                         page=page, page_size=PAGE_SIZE,
                                         count=views if len(views) > 1 else ())
    except Exception as err:  # noqa: BLE001 - a busy or missing store is a 503 page, not a 500
        log.warning("queue read failed: %s", err)
        return error_page(request, session, 503, t("The queue cannot be read right now; retry shortly."),
                          headers={"Retry-After": "2"})
    now = datetime.now(UTC)
    rows = []
    for r in result.rows:
        amount = t.money(r.refund_amount, r.currency)
        rows.append({"row": r, "link": _case_link(principal, r.shop_id, r.case_id), "amount": amount,
                     "countdown": t.countdown(r.deadline, now, r.deadline_kind, r.type, amount),
                     "urgency": t.urgency(r.deadline, now)})

    def link(**change: Any) -> str:
        params = [(k, v) for k, v in q.multi_items() if k not in change and k != "page"]
        params += [(k, v) for k, v in change.items() if v is not None]
        return f"{PREFIX}/queue?{urlencode(params)}"

    return render(request, "queue.html", status=422 if errors else 200, session=session, rows=rows, result=result,
                  view=view, views=views, view_labels=VIEW_LABELS, errors=errors, link=link,
                  chosen={"state": set(states), "type": case_type or "", "reason": reason or "",
                          "dispute_risk": risk_text if risk_text in ("yes", "no") else ""},
                  show_shop=shop is None, limit_text=t.money(limit, "CNY"))


# --------------------------------------------------------------------------------------------
# Reports (the same figures as GET /v1/reports, by the same rules: http_api.reports.report_for)

REPORT_DAYS = 28  # the default period: the last four weeks, through today


@router.get("/reports")
async def reports_page(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return to_sign_in(request)
    t = text_for(request)
    principal = session.principal
    q = request.query_params
    today = datetime.now(UTC).date()
    values = {"from": q.get("from") or (today - timedelta(days=REPORT_DAYS - 1)).isoformat(),
              "through": q.get("through") or today.isoformat(), "shop_id": q.get("shop_id") or ""}
    fields = [("from", "From", "date"), ("through", "Through", "date")]
    if principal.role in (Role.PLATFORM, Role.OPERATOR):
        fields.append(("shop_id", "Shop (empty: every shop)", "text"))
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for name in ("from", "through"):
        try:
            days[name] = date.fromisoformat(values[name])
        except ValueError:
            errors[name] = t("Write a date as YYYY-MM-DD.")
    if not errors and days["through"] < days["from"]:
        errors["through"] = t("The period ends before it starts.")
    if errors:
        return render(request, "reports.html", status=422, session=session, fields=fields, values=values,
                      errors=errors, refused=None, report_html=None)
    # The shop's days are the reader's: from 00:00 on the first day to 24:00 on the last, in UTC.
    start, end = days["from"].isoformat() + "T00:00:00Z", (days["through"] + timedelta(days=1)).isoformat() + "T00:00:00Z"
    try:
        report = await report_for(request, principal, values["shop_id"] or None, start, end)
    except ApiError as err:
        field = next((e["field"] for e in err.extra.get("errors", []) if isinstance(e, dict)), None)
        if err.status == 422 and field in ("from", "to", "shop_id"):
            errors["through" if field == "to" else field] = err.detail
            return render(request, "reports.html", status=422, session=session, fields=fields, values=values,
                          errors=errors, refused=None, report_html=None)
        return render(request, "reports.html", status=err.status, session=session, fields=fields, values=values,
                      errors={}, refused=err.detail, report_html=None, headers=err.headers)
    return render(request, "reports.html", session=session, fields=fields, values=values, errors={},
                  refused=None, report_html=Markup(report_html.render(report, t.locale)))


# --------------------------------------------------------------------------------------------
# A case


async def _read_case(request: Request, session: Session, case_id: str) -> CaseView | HTMLResponse:
    t = text_for(request)
    service = _api(request).service
    if service is None:
        return error_page(request, session, 503, t("The case engine is not reachable right now; retry shortly."),
                          headers={"Retry-After": "2"})
    try:
        return await visible_view(case_id, session.principal, service)
    except ApiError as err:
        if err.status == 404:
            return error_page(request, session, 404, t("Case {case_id} not found.", case_id=case_id))
        return error_page(request, session, err.status, err.detail, headers=err.headers)
    except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        fault = _engine_fault(err, writes=False)
        return error_page(request, session, fault.status, t("The case engine is not reachable right now; retry shortly."),
                          headers=fault.headers)


@dataclass
class Attempt:
    """A form that was sent and not taken: its values and what was wrong."""

    action: str
    values: dict[str, str]
    errors: dict[str, str]


def _form_values(spec: FormSpec, view: CaseView) -> dict[str, str]:
    """Defaults: an approval's amount is what the case would refund."""
    values: dict[str, str] = {}
    for f in spec.fields:
        if spec.action == "approve" and f.name == "amount" and view.type == CaseType.REFUND_ONLY:
            values[f.name] = from_minor(view.refund.refund, view.refund.currency)
    return values


def case_page(request: Request, session: Session, view: CaseView, *, status: int = 200,
              attempt: Attempt | None = None, banner: str | None = None, banner_kind: str = "error",
              stale: bool = False) -> HTMLResponse:
    t = text_for(request)
    mine = view_for(session.principal, view)
    forms = []
    for action in mine.next_actions:
        spec = form_for(action)
        if action == "approve" and view.type != CaseType.REFUND_ONLY:
            # Only a refund-only approval takes an amount (a return's refund is set at inspection).
            spec.fields = [f for f in spec.fields if f.name != "amount"]
        retried = attempt is not None and attempt.action == action
        forms.append({"spec": spec, "vals": attempt.values if retried and attempt else _form_values(spec, view),
                      "errs": attempt.errors if retried and attempt else {}, "open": retried})
    opened = next((e for e in view.timeline if e.action == "opened"), None)
    claimed = {i["sku"]: i["quantity"] for i in (opened.detail.get("items", []) if opened else [])
               if isinstance(i, dict)}
    evidence = [(e, url) for e in view.timeline for url in e.detail.get("evidence", []) or []
                if isinstance(url, str)]
    done = request.query_params.get("done")
    if banner is None and done in COMMANDS:
        banner, banner_kind = t("Done: {action}.", action=t.label(labels.ACTION_LABELS, done)), "ok"
    now = datetime.now(UTC)
    d = view.deadline_detail
    return render(request, "case.html", status=status, session=session, view=view, forms=forms, claimed=claimed,
                  evidence=evidence, banner=banner, banner_kind=banner_kind, stale=stale,
                  countdown=t.countdown(d.at, now, d.kind, view.type, t.money(view.refund.amount, view.refund.currency))
                  if d else None, urgency=t.urgency(d.at if d else None, now),
                  path=f"{PREFIX}/cases/{quote(_ref(session.principal, view), safe=':')}",
                  detail_text=_detail_text(t, view.refund.currency), safe_url=_safe_url)


def _ref(principal: Principal, view: CaseView) -> str:
    return view.case_id if principal.role in (Role.STAFF, Role.SUPERVISOR) else f"{view.shop_id}:{view.case_id}"


def _safe_url(url: str) -> bool:
    """Evidence is linked only when it is a web address (never ``javascript:`` and the like)."""
    return url.startswith(("https://", "http://"))


MONEY_KEYS = frozenset({"amount", "refund", "reimbursement", "requested_refund", "max_refund", "deduction",
                        "shipping_cost", "compensation", "offer", "refunded"})


def _detail_text(t: Text, currency: str) -> Any:
    def show(key: str, value: Any) -> str:
        if key in MONEY_KEYS and isinstance(value, int) and not isinstance(value, bool):
            return t.money(value, currency)
        if key in ("deadline",) and isinstance(value, str):
            return t.word(words.DEADLINES, value)
        if key in ("state", "to", "from") and isinstance(value, str):
            return t.word(words.STATES, value)
        if key == "type" and isinstance(value, str):
            return t.word(words.TYPES, value)
        if key == "reason" and value in words.REASONS:
            return t.word(words.REASONS, value)
        if key == "responsibility" and isinstance(value, str):
            return t.word(words.RESPONSIBILITIES, value)
        if key == "close_reason" and isinstance(value, str):
            return t.word(words.CLOSE_REASONS, value)
        if key.endswith("_at") and isinstance(value, str):
            try:
                return t.when(datetime.fromisoformat(value))
            except ValueError:
                return value
        if isinstance(value, bool):
            return t("yes") if value else t("no")
        if isinstance(value, list):
            return ", ".join(
                f"{i.get('sku')} × {i.get('quantity')}" if isinstance(i, dict) and "sku" in i else str(i) for i in value)
        return str(value)

    return show


@router.get("/cases/{case_id}")
async def case_view(request: Request, case_id: str) -> Response:
    session = current_session(request)
    if session is None:
        return to_sign_in(request)
    view = await _read_case(request, session, case_id)
    if isinstance(view, HTMLResponse):
        return view
    return case_page(request, session, view)


@router.post("/cases/{case_id}/{action}")
async def act(request: Request, case_id: str, action: str) -> Response:
    session = current_session(request)
    if session is None:
        return to_sign_in(request)
    t = text_for(request)
    form = await read_form(request)
    if not _same_origin(request) or not _wb(request).sessions.csrf_ok(session.nonce, form.get("csrf")):
        return error_page(request, session, 403, t("The form expired or came from elsewhere: reload the page and try again."))
    principal = session.principal
    view = await _read_case(request, session, case_id)
    if isinstance(view, HTMLResponse):
        return view
    if action not in COMMANDS:
        return error_page(request, session, 404, t("Unknown action {action}.", action=action[:64]))
    if not may_take(principal, action):
        allowed = ", ".join(sorted(r.value for r in ACTION_ROLES[action]))
        return case_page(request, session, view, status=403,
                         banner=f"a {principal.role} may not {action}; only {allowed} may")
    spec = form_for(action)
    values = {f.name: form.get(f.name, "") for f in spec.fields}
    payload, unreadable = payload_from_form(spec, form, view.refund.currency)
    version_text = form.get("expected_version", "")
    if not version_text.isdigit():
        unreadable["expected_version"] = "This case changed: reload"
    if unreadable:
        return case_page(request, session, view, status=422, attempt=Attempt(action, values, {
            k: t(v) for k, v in unreadable.items()}), banner=t("Check the fields marked below; nothing was changed."))
    try:
        command = parse_command(action, {**payload, "expected_version": int(version_text)})
    except BadPayload as err:
        return case_page(request, session, view, status=422, attempt=Attempt(action, values, _field_errors(t, err.errors)),
                         banner=t("Check the fields marked below; nothing was changed."))
    service = _api(request).service
    assert service is not None  # _read_case answered
    case = case_ref(case_id, principal)
    try:
        await service.command(case, action, principal, command)
    except CaseRefused as err:
        if err.kind == kinds.NOT_YOURS:
            return error_page(request, session, 404, t("Case {case_id} not found.", case_id=case_id))
        fresh = await _read_case(request, session, case_id)
        if isinstance(fresh, HTMLResponse):
            return fresh
        if err.kind == kinds.STALE_VERSION:
            return case_page(request, session, fresh, status=409, stale=True, banner=t("This case changed: reload"))
        if refusal_status(err.kind) == 422:
            problems = err.details.get("errors") or [{"field": "payload", "message": err.message}]
            return case_page(request, session, fresh, status=422,
                             attempt=Attempt(action, values, _field_errors(t, problems)),
                             banner=t("Check the fields marked below; nothing was changed."))
        answer = await refusal(err, principal, service, case)
        return case_page(request, session, fresh, status=answer.status, attempt=Attempt(action, values, {}),
                         banner=answer.detail)
    except CaseNotFound:
        return case_page(request, session, view, status=409, banner=t("This case has ended; nothing more can be done."))
    except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        fault = _engine_fault(err, writes=True)
        return case_page(request, session, view, status=fault.status, banner=t(
            "The case engine did not answer; the action may or may not have been applied: reload the case before "
            "trying again."))
    return RedirectResponse(f"{PREFIX}/cases/{quote(case_id, safe=':')}?done={action}", status_code=303)


def _field_errors(t: Text, problems: list[dict[str, Any]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for problem in problems:
        name = error_field(str(problem.get("field", "payload")))
        found.setdefault(name, t(str(problem.get("message", ""))))
    return found


__all__ = ["install", "router"]
