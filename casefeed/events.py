"""What integrators are told: the outbound event types and how they follow from a case's change.

Pure: ``derive(before, after)`` compares a case before and after one decider step (or the opening)
and returns the events it makes, in order. The case workflow calls it after every step, so the
decider (``domain.lifecycle``) needs no knowledge of events. Every change of the case's ``version``
makes at least one event (``case.updated`` when nothing more specific applies), so the event
stream and the ``cases`` read model built from it miss no change.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.casefile import Case
from domain.lifecycle import waiting_on
from domain.models import CaseState, CaseType, CaseView, Reason, WaitingOn


class EventType(StrEnum):
    CASE_OPENED = "case.opened"
    STATE_CHANGED = "case.state_changed"
    REMINDER_SENT = "case.reminder_sent"
    AUTOMATIC_ACTION = "case.automatic_action"
    REFUND_PAID = "case.refund_paid"
    NEEDS_ATTENTION = "case.needs_attention"
    DISPUTE_RISK_FLAGGED = "case.dispute_risk_flagged"
    CASE_ENDED = "case.ended"
    CASE_UPDATED = "case.updated"


#: One line per type, for the schema and the README.
DESCRIPTIONS: dict[EventType, str] = {
    EventType.CASE_OPENED: "a case was opened: type, reason, order, items, requested refund, first deadline",
    EventType.STATE_CHANGED: "the case moved from one state to another: from, to, waiting_on, deadline",
    EventType.REMINDER_SENT: "a reminder went out before a deadline: to whom, which deadline, how long before",
    EventType.AUTOMATIC_ACTION: "a deadline passed and its automatic outcome was applied",
    EventType.REFUND_PAID: "the payment provider paid the refund: amount, lines, idempotency key",
    EventType.NEEDS_ATTENTION: "something failed permanently (e.g. the payment was refused); a human must act",
    EventType.DISPUTE_RISK_FLAGGED: "the case has been open long enough that buyers tend to escalate",
    EventType.CASE_ENDED: "the case ended: refunded, completed or closed, with the close reason",
    EventType.CASE_UPDATED: "any other change (deadline extended, note added, parcel scanned, ...)",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseSummary(Strict):
    """One row of the ``cases`` read model: the case as of its newest event."""

    case_key: str = Field(description="the case's workflow id (unique across shops)")
    case_id: str
    shop_id: str
    buyer_id: str
    order_id: str
    type: CaseType
    reason: Reason
    state: CaseState
    waiting_on: WaitingOn | None
    deadline: datetime | None
    deadline_kind: str | None
    dispute_risk: bool
    close_reason: str | None
    currency: str
    refund_amount: int = Field(description="refund plus reimbursements, minor units, as the case view shows it")
    version: int
    updated_at: datetime


class CaseEvent(Strict):
    """One outbound event (the body of a webhook delivery and of ``GET /v1/events``)."""

    id: str = Field(description="unique event id; also the webhook-id header")
    type: EventType
    case_id: str
    shop_id: str
    version: int = Field(description="the case version this event describes")
    sequence: int = Field(description="1, 2, 3, ... per case: the order in which the case's events happened")
    occurred_at: datetime
    data: dict[str, Any]


class EventBatch(Strict):
    """The events of one workflow task of one case, recorded in one call (idempotent by sequence),
    with the case's view as of that task: what ``GET /v1/cases/{id}`` answers (``case_views``).
    ``events`` is empty for a case opened with events off; ``view`` is None only in batches of
    cases started before views were recorded."""

    case_key: str
    events: list[CaseEvent]
    summary: CaseSummary
    view: CaseView | None = None


class RecordResult(Strict):
    recorded: int = Field(description="events newly stored (0 when this batch was stored before)")


def summary(case: Case, case_key: str, refund_amount: int) -> CaseSummary:
    d = case.deadline
    return CaseSummary(
        case_key=case_key, case_id=case.case_id, shop_id=case.order.shop_id, buyer_id=case.order.buyer_id,
        order_id=case.order.order_id, type=case.type, reason=case.reason, state=case.state,
        waiting_on=waiting_on(case), deadline=d.at if d else None, deadline_kind=d.kind if d else None,
        dispute_risk=case.dispute_risk, close_reason=case.close_reason, currency=case.order.currency,
        refund_amount=refund_amount, version=case.version, updated_at=case.updated_at)


def _deadline(case: Case) -> dict[str, Any]:
    d = case.deadline
    return {"waiting_on": waiting_on(case), "deadline": d.at.isoformat() if d else None,
            "deadline_kind": d.kind if d else None}


def derive(before: Case | None, after: Case) -> list[tuple[EventType, dict[str, Any]]]:
    """The events one step made, in the order they happened: ``(type, data)``.

    ``before`` is None for the opening. Timeline entries added by the step give the opening,
    reminders, automatic actions, payouts and the dispute-risk flag; comparing states gives the
    state change, needs-attention and the end.
    """
    made: list[tuple[EventType, dict[str, Any]]] = []
    start = len(before.timeline) if before is not None else 0
    for entry in after.timeline[start:]:
        detail = dict(entry.detail)
        if entry.action == "opened":
            made.append((EventType.CASE_OPENED, {
                "type": after.type, "reason": after.reason, "order_id": after.order.order_id,
                "buyer_id": after.order.buyer_id, "currency": after.order.currency,
                "items": detail.get("items", []), "requested_refund": detail.get("requested_refund"),
                "max_refund": detail.get("max_refund"), "state": after.state, **_deadline(after),
                "opened_at": entry.at.isoformat()}))
        elif entry.action == "reminder_sent":
            made.append((EventType.REMINDER_SENT, detail))
        elif entry.action == "deadline_expired":
            made.append((EventType.AUTOMATIC_ACTION, detail))
        elif entry.action == "refund_paid":
            made.append((EventType.REFUND_PAID, {**detail, "lines": [
                line.model_dump(mode="json") for line in after.paid_lines or []]}))
        elif entry.action == "dispute_risk_flagged":
            made.append((EventType.DISPUTE_RISK_FLAGGED, detail))
    # Who made this step and with what (reports: first merchant response, who decided a payout,
    # arbitration outcomes): the step's first timeline entry; ``system`` for alarms and payouts.
    first = after.timeline[start] if len(after.timeline) > start else None
    cause = {"by": first.actor.role if first else "system", "action": first.action if first else None}
    if first is not None and first.action == "arbitrate":
        cause["arbitration"] = first.detail.get("outcome")
    if before is not None and before.state != after.state:
        made.append((EventType.STATE_CHANGED, {"from": before.state, "to": after.state, **_deadline(after), **cause}))
        if after.state == CaseState.NEEDS_ATTENTION:
            made.append((EventType.NEEDS_ATTENTION, {"reason": after.needs_attention_reason}))
        if after.state.terminal and not before.state.terminal:
            made.append((EventType.CASE_ENDED, {"outcome": after.state, "close_reason": after.close_reason,
                                                "refunded": sum(line.amount for line in after.paid_lines or [])}))
    if not made and before is not None and before.version != after.version:
        last = after.timeline[-1].action if len(after.timeline) > start else None
        made.append((EventType.CASE_UPDATED, {"action": last, "state": after.state, **_deadline(after),
                                              "by": cause["by"]}))
    return made
