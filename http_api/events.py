"""Outbound events over HTTP: the catch-up feed, the event schema, subscriptions and deliveries.

- ``GET /v1/events?after=<cursor>``: every event after a cursor, oldest first (gap-free: see
  ``casefeed.store``); an integrator that was down resumes from the last cursor it processed.
- ``GET /v1/events/cases?after=<cursor>``: the cases changed after a cursor, newest state each.
- ``GET /v1/events/schema``: the JSON Schema of an event and the list of types.
- ``/v1/subscriptions``: create, list, read, replace, delete (``system`` and ``operator``); a
  system principal of a shop manages only that shop's; secrets are write-only.
- ``GET /v1/deliveries?state=failed``: deliveries with their state, attempts and last error;
  ``POST /v1/deliveries/{id}/retry`` sends one again (operators).

Who reads the feed: operators and the platform all of it; a shop's system principal, staff and
supervisors their shop's; a system principal without a shop (the platform's backend) all of it.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Path, Query, Request
from pydantic import BaseModel, Field, ValidationError

from casefeed.events import DESCRIPTIONS, CaseEvent, EventType
from casefeed.store import Delivery, EventStore
from casefeed.subscriptions import SubscriptionRequest, SubscriptionView, subscription
from domain.models import ID_CHARACTERS, ID_PATTERN, Principal, Role
from http_api.auth import CurrentPrincipal
from http_api.bodies import read_object
from http_api.cases import BODY_RESPONSES
from http_api.problems import ApiError, Problem, field_errors, invalid

router = APIRouter(tags=["events"])
T = TypeVar("T")

FEED_ROLES = {Role.OPERATOR, Role.PLATFORM, Role.SYSTEM, Role.STAFF, Role.SUPERVISOR}
MANAGE_ROLES = {Role.OPERATOR, Role.SYSTEM}
ERRORS: dict[int | str, dict[str, Any]] = {403: {"model": Problem, "description": "role or shop not allowed"},
                                           503: {"model": Problem, "description": "event store busy; retry"}}
ONE: dict[int | str, dict[str, Any]] = {**ERRORS, 404: {"model": Problem, "description": "no such subscription "
                                                        "(or another shop's)"}}
#: Cursors are SQLite/PostgreSQL 64-bit integers.
MAX_CURSOR = 2**63 - 1


def install(app: FastAPI, store: EventStore) -> None:
    app.state.events = store
    app.include_router(router)


def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.events
    return store


async def _db(call: Callable[..., T], *args: Any) -> T:
    """Run a store call off the event loop; a busy or unavailable store is a 503, not a 500."""
    try:
        return await asyncio.to_thread(call, *args)
    except sqlite3.OperationalError as err:
        raise ApiError(503, f"the event store is not available right now ({err}); retry shortly",
                       headers={"Retry-After": "1"}) from None


def _feed_scope(principal: Principal) -> str | None:
    """The shop whose events the principal reads, or None for every shop."""
    if principal.role not in FEED_ROLES:
        raise ApiError(403, f"the {principal.role} role may not read the event feed")
    if principal.role in (Role.OPERATOR, Role.PLATFORM):
        return None
    if principal.role == Role.SYSTEM:
        return principal.shop_id
    return principal.shop_id or "<none>"


def _may_manage(principal: Principal, shop_id: str | None, field: str = "shop_id") -> None:
    if principal.role not in MANAGE_ROLES:
        raise ApiError(403, f"the {principal.role} role may not manage subscriptions (system or operator)")
    if principal.role == Role.SYSTEM and principal.shop_id is not None and shop_id != principal.shop_id:
        scope = "every shop (platform-wide)" if shop_id is None else f"shop {shop_id!r}"
        raise ApiError(403, f"{field}: a system principal of shop {principal.shop_id!r} may not manage "
                       f"subscriptions of {scope}", errors=[{"field": field, "message": "another shop's scope"}])


# --------------------------------------------------------------------------------------------
# The feed


def _once(request: Request, *names: str) -> None:
    """A parameter given twice is refused, not read as its last value (``?case_id=a&case_id=b``
    would otherwise quietly mean b)."""
    repeated = [n for n in names if len(request.query_params.getlist(n)) > 1]
    if repeated:
        raise invalid([{"field": n, "message": "give it once"} for n in repeated], "query")


class FeedItem(BaseModel):
    cursor: int = Field(description="pass it as ?after= to read on from here")
    event: CaseEvent


class Feed(BaseModel):
    items: list[FeedItem]
    next_after: int = Field(description="the cursor to pass next time (the last item's, or the one given)")


class CaseChange(BaseModel):
    cursor: int
    case_id: str
    shop_id: str
    buyer_id: str
    order_id: str
    type: str
    reason: str
    state: str
    waiting_on: str | None
    deadline: str | None
    deadline_kind: str | None
    dispute_risk: bool
    close_reason: str | None
    currency: str
    refund_amount: int
    version: int
    updated_at: str


class CaseChanges(BaseModel):
    cases: list[CaseChange]
    next_after: int


@router.get("/v1/events", response_model=Feed, responses=ERRORS, summary="Every event after a cursor")
async def events_feed(
    request: Request, principal: CurrentPrincipal,
    after: int = Query(0, ge=0, le=MAX_CURSOR, description="cursor of the last event already processed; 0 for the start"),
    limit: int = Query(100, ge=1, le=1000),
    case_id: str | None = Query(None, pattern=ID_PATTERN, description=f"only this case's events ({ID_CHARACTERS})"),
) -> Feed:
    """Oldest first. Cursors grow in the order events were stored, so reading on from the last
    cursor never skips an event, however long the reader was away."""
    _once(request, "after", "limit", "case_id")
    shop = _feed_scope(principal)
    rows = await _db(_store(request).events_after, after, limit, shop, case_id)
    return Feed(items=[FeedItem(cursor=seq, event=e) for seq, e in rows], next_after=rows[-1][0] if rows else after)


@router.get("/v1/events/cases", response_model=CaseChanges, responses=ERRORS,
            summary="The cases changed after a cursor (the read model)")
async def changed_cases(
    request: Request, principal: CurrentPrincipal,
    after: int = Query(0, ge=0, le=MAX_CURSOR, description="an event cursor (from this route or /v1/events)"),
    limit: int = Query(100, ge=1, le=1000),
) -> CaseChanges:
    """Each changed case once, as of its newest event; a case changed again later moves past the
    cursor again, so paging on from ``next_after`` misses no change."""
    shop = _feed_scope(principal)
    rows = await _db(_store(request).cases_changed_after, after, limit, shop)
    cases = [CaseChange(cursor=r["last_seq"], dispute_risk=bool(r["dispute_risk"]),
                        **{k: v for k, v in r.items() if k not in ("last_seq", "case_key", "dispute_risk")})
             for r in rows]
    return CaseChanges(cases=cases, next_after=cases[-1].cursor if cases else after)


@router.get("/v1/events/schema", summary="JSON Schema of an event, and the event types")
async def event_schema() -> dict[str, Any]:
    return {"schema": CaseEvent.model_json_schema(),
            "types": {t.value: DESCRIPTIONS[t] for t in EventType},
            "signature": "Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature (v1, HMAC-SHA256)"}


# --------------------------------------------------------------------------------------------
# Subscriptions


def _scoped(principal: Principal, body: SubscriptionRequest) -> SubscriptionRequest:
    if principal.role == Role.SYSTEM and principal.shop_id is not None and "shop_id" not in body.model_fields_set:
        body = body.model_copy(update={"shop_id": principal.shop_id})
    _may_manage(principal, body.shop_id)
    return body


#: The body is read by the route (``http_api.bodies``: 415 unless JSON, 422 naming the field).
BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": SubscriptionRequest.model_json_schema()}}}}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {**BODY_RESPONSES, **ERRORS}


async def _subscription_body(request: Request) -> SubscriptionRequest:
    body = await read_object(request, required=True)
    try:
        return SubscriptionRequest.model_validate(body)
    except ValidationError as err:
        raise invalid(field_errors(err), "subscription") from None


@router.post("/v1/subscriptions", status_code=201, response_model=SubscriptionView, responses=WRITE_ERRORS,
             summary="Subscribe a URL to event types", openapi_extra=BODY_DOC)
async def create_subscription(request: Request, principal: CurrentPrincipal) -> SubscriptionView:
    """A shop's system principal subscribes its own shop (``shop_id`` defaults to it); operators
    any shop, or none for every shop. The secret is stored and never shown again."""
    _may_manage(principal, principal.shop_id)
    body = _scoped(principal, await _subscription_body(request))
    sub = subscription(f"sub_{secrets.token_hex(8)}", body, "api")
    await _db(_store(request).put_subscription, sub)
    return SubscriptionView.of(sub)


@router.get("/v1/subscriptions", response_model=list[SubscriptionView], responses=ERRORS)
async def list_subscriptions(request: Request, principal: CurrentPrincipal) -> list[SubscriptionView]:
    _may_manage(principal, principal.shop_id)
    every = principal.role == Role.OPERATOR or principal.shop_id is None
    subs = await _db(lambda: _store(request).subscriptions(principal.shop_id, every_shop=every))
    return [SubscriptionView.of(s) for s in subs]


async def _owned(request: Request, principal: CurrentPrincipal, subscription_id: str) -> Any:
    """The subscription if the principal may manage it; another shop's is a 404, as if absent."""
    if principal.role not in MANAGE_ROLES:
        _may_manage(principal, None)
    sub = await _db(_store(request).subscription, subscription_id)
    if sub is None or (principal.role == Role.SYSTEM and principal.shop_id not in (None, sub.shop_id)):
        raise ApiError(404, f"no subscription {subscription_id!r}")
    return sub


@router.get("/v1/subscriptions/{subscription_id}", response_model=SubscriptionView, responses=ONE)
async def read_subscription(request: Request, principal: CurrentPrincipal, subscription_id: str) -> SubscriptionView:
    return SubscriptionView.of(await _owned(request, principal, subscription_id))


@router.put("/v1/subscriptions/{subscription_id}", response_model=SubscriptionView,
            responses={**WRITE_ERRORS, **ONE}, openapi_extra=BODY_DOC)
async def replace_subscription(request: Request, principal: CurrentPrincipal, subscription_id: str) -> SubscriptionView:
    await _owned(request, principal, subscription_id)
    body = _scoped(principal, await _subscription_body(request))
    sub = subscription(subscription_id, body, "api")
    await _db(_store(request).put_subscription, sub)
    return SubscriptionView.of(sub)


@router.delete("/v1/subscriptions/{subscription_id}", status_code=204, responses=ONE)
async def delete_subscription(request: Request, principal: CurrentPrincipal, subscription_id: str) -> None:
    await _owned(request, principal, subscription_id)
    await _db(_store(request).delete_subscription, subscription_id)


# --------------------------------------------------------------------------------------------
# Deliveries


class DeliveryView(BaseModel):
    id: int
    subscription_id: str
    url: str
    event_id: str
    case_key: str
    case_sequence: int
    state: str = Field(description="pending (being tried), delivered, or failed (gave up; retry it)")
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime
    give_up_at: datetime
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryView:
        return cls(id=d.id, subscription_id=d.subscription_id, url=d.url, event_id=d.event_id, case_key=d.case_key,
                   case_sequence=d.case_sequence, state=d.state, attempts=d.attempts, last_status=d.last_status,
                   last_error=d.last_error, next_attempt_at=d.next_attempt_at, give_up_at=d.give_up_at,
                   created_at=d.created_at, delivered_at=d.delivered_at)


@router.get("/v1/deliveries", response_model=list[DeliveryView], responses=ERRORS,
            summary="Deliveries with their state, attempts and last error")
async def list_deliveries(
    request: Request, principal: CurrentPrincipal,
    state: str | None = Query(None, pattern="^(pending|delivered|failed)$"),
    subscription_id: str | None = Query(None, max_length=64), limit: int = Query(100, ge=1, le=1000),
) -> list[DeliveryView]:
    _may_manage(principal, principal.shop_id)
    every = principal.role == Role.OPERATOR or principal.shop_id is None
    rows = await _db(lambda: _store(request).deliveries(state=state, shop_id=principal.shop_id, every_shop=every,
                                                        subscription_id=subscription_id, limit=limit))
    return [DeliveryView.of(d) for d in rows]


@router.post("/v1/deliveries/{delivery_id}/retry", response_model=DeliveryView,
             responses={**ERRORS, 404: {"model": Problem, "description": "no such delivery"}},
             summary="Send a delivery again (operators)")
async def retry_delivery(request: Request, principal: CurrentPrincipal,
                         delivery_id: int = Path(ge=1, le=MAX_CURSOR)) -> DeliveryView:
    """Due at once, retried with backoff for another full period if it fails again."""
    if principal.role != Role.OPERATOR:
        raise ApiError(403, f"only operators may retry deliveries, not the {principal.role} role")
    store = _store(request)
    retry_for = request.app.state.api.settings.event_retry_for
    if not await _db(store.retry, delivery_id, datetime.now(UTC), retry_for):
        raise ApiError(404, f"no delivery {delivery_id}")
    found = await _db(store.delivery, delivery_id)
    assert found is not None
    return DeliveryView.of(found)
