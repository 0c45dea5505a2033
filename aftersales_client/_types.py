"""The JSON shapes the API answers with, as TypedDicts: typed for readers and checkers, plain
dicts at run time (so a field the server adds later never breaks an old client)."""

from __future__ import annotations

from typing import Any, TypedDict


class Actor(TypedDict):
    role: str
    id: str


class TimelineEntry(TypedDict):
    at: str
    actor: Actor
    action: str
    detail: dict[str, Any]


class BreakdownLine(TypedDict):
    kind: str
    amount: int
    note: str


class Refund(TypedDict, total=False):
    amount: int
    refund: int
    reimbursement: int
    currency: str
    status: str
    breakdown: list[BreakdownLine]
    payment_id: str | None


class CaseView(TypedDict, total=False):
    """``GET /v1/cases/{case_id}`` (see ``shared/API.md``)."""

    case_id: str
    type: str
    reason: str
    order_id: str
    shop_id: str
    buyer_id: str
    state: str
    waiting_on: str | None
    deadline: str | None
    deadline_detail: dict[str, Any] | None
    close_reason: str | None
    dispute_risk: bool
    refund: Refund
    policy_version: str
    version: int
    created_at: str
    updated_at: str
    offer: int | None
    return_tracking: str | None
    outbound_tracking: str | None
    needs_attention_reason: str | None
    timeline: list[TimelineEntry]
    next_actions: list[str]
    actions_by_role: dict[str, list[str]]


class CaseSummary(TypedDict, total=False):
    """One row of ``GET /v1/cases`` (from Temporal visibility; may lag the view by a moment)."""

    case_id: str
    state: str | None
    type: str | None
    shop_id: str | None
    order_id: str | None
    buyer_id: str | None
    waiting_on: str | None
    deadline: str | None
    dispute_risk: bool
    opened_at: str | None
    running: bool
