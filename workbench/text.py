"""What the workbench says, in the reader's language: every label goes through the ``workbench``
gettext catalog (msgid = the English text), money and times through ``i18n``'s Babel formatting.

The label tables name every state, type, reason, party, deadline, action, timeline entry and
payout line the domain has (a test checks that each is here and translated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_datetime, get_timezone
from babel.numbers import format_currency
from babel.units import format_unit
from markupsafe import Markup, escape

import i18n
from domain.deadlines import DEADLINES
from domain.models import (
    CaseState,
    CaseType,
    CloseReason,
    LineKind,
    ParcelStatus,
    Reason,
    Responsibility,
    Role,
    WaitingOn,
)
from domain.money import ZERO_DECIMAL_CURRENCIES
from domain.rules import ACTIONS

DOMAIN = "workbench"

STATES: dict[str, str] = {
    CaseState.AWAITING_MERCHANT_DECISION: "Awaiting merchant decision",
    CaseState.AWAITING_BUYER_RESPONSE: "Awaiting buyer response",
    CaseState.AWAITING_RETURN_SHIPMENT: "Awaiting return shipment",
    CaseState.RETURN_IN_TRANSIT: "Return in transit",
    CaseState.AWAITING_INSPECTION: "Awaiting inspection",
    CaseState.AWAITING_MERCHANT_SHIPMENT: "Awaiting merchant shipment",
    CaseState.AWAITING_BUYER_CONFIRMATION: "Awaiting buyer confirmation",
    CaseState.IN_ARBITRATION: "In arbitration",
    CaseState.REFUNDING: "Refunding",
    CaseState.NEEDS_ATTENTION: "Needs attention",
    CaseState.REFUNDED: "Refunded",
    CaseState.COMPLETED: "Completed",
    CaseState.CLOSED: "Closed",
}
TYPES: dict[str, str] = {
    CaseType.REFUND_ONLY: "Refund only",
    CaseType.RETURN_REFUND: "Return and refund",
    CaseType.EXCHANGE: "Exchange",
    CaseType.REPAIR: "Repair",
}
REASONS: dict[str, str] = {
    Reason.QUALITY_ISSUE: "Quality issue",
    Reason.NOT_AS_DESCRIBED: "Not as described",
    Reason.WRONG_ITEM: "Wrong item",
    Reason.MISSING_ITEM: "Missing item",
    Reason.DAMAGED_IN_TRANSIT: "Damaged in transit",
    Reason.NOT_RECEIVED: "Not received",
    Reason.OUT_OF_STOCK: "Out of stock",
    Reason.NO_REASON: "No reason (7-day return)",
    Reason.CHANGED_MIND: "Changed mind",
    Reason.OTHER: "Other",
}
PARTIES: dict[str, str] = {
    WaitingOn.BUYER: "Buyer",
    WaitingOn.MERCHANT: "Merchant",
    WaitingOn.COURIER: "Courier",
    WaitingOn.PLATFORM: "Platform",
    WaitingOn.PAYMENT: "Payment provider",
}
ROLES: dict[str, str] = {
    Role.SYSTEM: "System",
    Role.BUYER: "Buyer",
    Role.STAFF: "Staff",
    Role.SUPERVISOR: "Supervisor",
    Role.PLATFORM: "Platform",
    Role.OPERATOR: "Operator",
}
CLOSE_REASONS: dict[str, str] = {
    CloseReason.CANCELLED_BY_BUYER: "Cancelled by the buyer",
    CloseReason.BUYER_TIMEOUT: "The buyer did not ship in time",
    CloseReason.REJECTED: "Rejected",
    CloseReason.ARBITRATION_DENIED: "Denied by the platform",
    CloseReason.RETURNED_TO_BUYER: "Returned to the buyer",
    CloseReason.SHIPPED_BEFORE_REFUND: "Shipped before the refund",
}
DEADLINE_KINDS: dict[str, str] = {
    "merchant_decision": "Merchant decision",
    "buyer_return_shipment": "Buyer ships the return",
    "merchant_inspection": "Merchant inspection",
    "buyer_answer_refusal": "Buyer answers the refusal",
    "buyer_answer_offer": "Buyer answers the offer",
    "buyer_answer_inspection": "Buyer answers the inspection",
    "merchant_shipment": "Merchant ships the item",
    "buyer_confirm_receipt": "Buyer confirms receipt",
    "platform_decision": "Platform decision",
    "needs_attention_followup": "Needs attention follow-up",
}
ACTION_LABELS: dict[str, str] = {
    "approve": "Approve",
    "reject": "Reject",
    "offer_partial_refund": "Offer a partial refund",
    "require_return": "Require a return",
    "accept_offer": "Accept the offer",
    "accept_return_to_buyer": "Accept the return to the buyer",
    "decline_offer": "Decline the offer",
    "revise": "Revise the request",
    "submit_return_shipment": "Submit the return shipment",
    "confirm_return_received": "Confirm the return was received",
    "record_inspection": "Record the inspection",
    "ship_item": "Ship the item",
    "confirm_receipt": "Confirm receipt",
    "cancel": "Cancel",
    "escalate": "Escalate to the platform",
    "arbitrate": "Decide (arbitration)",
    "resume": "Resume (retry the failed step)",
    "extend_deadline": "Extend the deadline",
    "add_note": "Add a note",
}
#: Timeline entries the engine writes itself (commands are named by ``ACTION_LABELS``).
EVENTS: dict[str, str] = {
    "opened": "Opened",
    "reminder_sent": "Reminder sent",
    "deadline_expired": "Deadline passed",
    "auto_approved": "Approved automatically",
    "auto_refund": "Refunded automatically",
    "auto_confirmed": "Receipt confirmed automatically",
    "converted_to_refund": "Converted to a refund",
    "escalated_to_platform": "Escalated to the platform",
    "offer_lapsed": "Offer lapsed",
    "dispute_risk_flagged": "Flagged as a dispute risk",
    "refund_paid": "Refund paid",
    "payment_failed": "Payment failed",
    "ended": "Ended",
    "satisfaction_followup_sent": "Follow-up sent",
    **{f"parcel_{status}": label for status, label in (
        (ParcelStatus.PICKED_UP, "Parcel picked up"), (ParcelStatus.IN_TRANSIT, "Parcel in transit"),
        (ParcelStatus.DELIVERED, "Parcel delivered"), (ParcelStatus.EXCEPTION, "Parcel problem"))},
}
LINES: dict[str, str] = {
    LineKind.ITEMS: "Claimed items",
    LineKind.ORIGINAL_SHIPPING: "Original shipping fee",
    LineKind.DEDUCTION: "Deduction",
    LineKind.AGREED_ADJUSTMENT: "Agreed adjustment",
    LineKind.RETURN_SHIPPING: "Buyer's return shipping",
    LineKind.OUT_OF_STOCK_COMPENSATION: "Out-of-stock compensation",
}
RESPONSIBILITIES: dict[str, str] = {
    Responsibility.PRODUCT_DEFECT: "Product defect",
    Responsibility.BUYER_MISUSE: "Buyer misuse",
    Responsibility.TRANSIT_DAMAGE: "Transit damage",
    Responsibility.NO_FAULT: "No fault",
}
OUTCOMES: dict[str, str] = {"refund_full": "Full refund", "refund_partial": "Partial refund", "deny": "Deny"}
FIELDS: dict[str, str] = {
    "amount": "Amount",
    "reason": "Reason",
    "note": "Note",
    "evidence": "Evidence links (one per line)",
    "requested_refund": "Requested refund",
    "description": "Description",
    "carrier": "Carrier",
    "tracking_number": "Tracking number",
    "shipping_cost": "Return shipping cost",
    "passed": "Inspection passed",
    "responsibility": "Responsibility",
    "deduction": "Deduction",
    "outcome": "Outcome",
    "by": "Extend by (e.g. 3d, 12h)",
}
PAYOUTS: dict[str, str] = {"none": "Not started", "pending": "Being paid", "paid": "Paid", "failed": "Failed"}
#: The keys of a timeline entry's data.
DETAIL_KEYS: dict[str, str] = {
    "type": "Type", "reason": "Reason", "items": "Items", "requested_refund": "Requested refund",
    "description": "Description", "evidence": "Evidence", "policy_version": "Policy version",
    "max_refund": "Most it may refund", "currency": "Currency", "amount": "Amount", "note": "Note", "to": "To",
    "from": "From", "deadline": "Deadline", "before": "Before the deadline", "deadline_at": "Deadline at",
    "outcome": "Outcome", "refund": "Refund", "reimbursement": "Reimbursement", "payment_id": "Payment",
    "idempotency_key": "Idempotency key", "already_paid": "Already paid", "state": "State",
    "close_reason": "Close reason", "open_for": "Open for", "compensation": "Compensation", "return": "Return",
    "leg": "Leg", "carrier": "Carrier", "tracking_number": "Tracking number", "occurred_at": "Occurred at",
    "source": "Source", "passed": "Inspection passed", "responsibility": "Responsibility", "deduction": "Deduction",
    "by": "Extended by", "offer": "Offer", "shipping_cost": "Return shipping cost",
}
#: What the form reader says about a field it cannot read (``workbench.forms``).
FORM_MESSAGES: tuple[str, ...] = ("Enter an amount such as 199.00", "Choose yes or no", "This case changed: reload")
#: Pydantic's messages for the fields of our forms (anything else is shown as it comes).
VALIDATION: tuple[str, ...] = (
    "Field required",
    "String should have at least 1 character",
    "Input should be greater than or equal to 1",
    "Input should be greater than or equal to 0",
)

#: Deadlines due within this are marked "due soon" in a queue.
DUE_SOON = timedelta(hours=4)


def expiry_msgid(kind: str | None, case_type: str) -> str | None:
    """What happens when the deadline ``kind`` passes, as a msgid with ``{amount}`` where money moves."""
    if kind is None:
        return None
    if kind == "merchant_decision":
        return "auto-refund {amount}" if case_type == CaseType.REFUND_ONLY else "auto-approve the return"
    if kind == "merchant_inspection":
        return "auto-refund {amount}"
    if kind == "merchant_shipment":
        return "convert to a refund of {amount}" if case_type == CaseType.EXCHANGE else "escalate to the platform"
    return EXPIRY.get(kind)


EXPIRY: dict[str, str] = {
    "buyer_return_shipment": "close: the buyer did not ship",
    "buyer_answer_refusal": "close as rejected",
    "buyer_answer_offer": "the offer lapses and the merchant decides again",
    "buyer_answer_inspection": "close: the item goes back to the buyer",
    "buyer_confirm_receipt": "auto-confirm receipt",
    "platform_decision": "remind platform staff",
    "needs_attention_followup": "remind the supervisor",
}
EXPIRY_WITH_AMOUNT = ("auto-refund {amount}", "auto-approve the return", "convert to a refund of {amount}",
                      "escalate to the platform")

assert set(DEADLINE_KINDS) == set(DEADLINES), "every deadline has a label"
assert set(ACTION_LABELS) == set(ACTIONS), "every action has a label"


def time_zone_or_default(name: str | None) -> str:
    if name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return i18n.DEFAULT_TIME_ZONE


@cache
def _babel_locale(locale: str) -> Locale:
    return Locale.parse(locale.replace("-", "_"))


# The same formatting as ``i18n.format_money``/``format_datetime``/``format_duration`` (a test checks
# they agree), with the Babel locale parsed once: a queue page formats a few hundred values, and
# Babel parses a locale given as text on every call (a third of the page's time at 20,000 cases).


def _money(amount: int, currency: str, locale: str) -> str:
    value = Decimal(amount) if currency in ZERO_DECIMAL_CURRENCIES else Decimal(amount) / 100
    return format_currency(value, currency, locale=_babel_locale(locale))


def _when(at: datetime, locale: str, time_zone: str) -> str:
    return format_datetime(at, "yyyy-MM-dd HH:mm", tzinfo=_zone(time_zone), locale=_babel_locale(locale))


@cache
def _zone(name: str) -> Any:
    return get_timezone(name)


def _duration(span: timedelta, locale: str) -> str:
    seconds = max(int(span.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    parts = [(days, "duration-day"), (hours, "duration-hour"), (rest // 60, "duration-minute")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(_unit(value, unit, locale) for value, unit in parts[:2] if value or unit == parts[0][1])


@lru_cache(maxsize=1024)
def _unit(value: int, unit: str, locale: str) -> str:
    """``3 hr``: few distinct values (minutes < 60, hours < 24, days), each formatted once."""
    return format_unit(value, unit, length="short", locale=_babel_locale(locale))


@dataclass(frozen=True)
class Text:
    """The reader's language and time zone, with the workbench's formatting helpers."""

    locale: str
    time_zone: str = i18n.DEFAULT_TIME_ZONE

    def __call__(self, msgid: str, **params: object) -> str:
        return i18n.gettext(self.locale, DOMAIN, msgid, **params)

    def label(self, table: dict[str, str], key: str | None) -> str:
        if key is None:
            return ""
        msgid = table.get(key)
        return self(msgid) if msgid else key

    def money(self, amount: int | None, currency: str) -> str:
        return "" if amount is None else _money(amount, currency, self.locale)

    def when(self, at: datetime | None) -> str:
        return "" if at is None else _when(at, self.locale, self.time_zone)

    def duration(self, span: timedelta) -> str:
        return _duration(span, self.locale)

    def unit_patterns(self) -> dict[str, list[str]]:
        """For the live countdown script: each unit's text for 1 and for many, ``{n}`` in place of the number."""
        return {unit: [_unit(n, f"duration-{unit}", self.locale).replace(str(n), "{n}") for n in (1, 7)]
                for unit in ("day", "hour", "minute")}

    def countdown(self, deadline: datetime | None, now: datetime, kind: str | None, case_type: str,
                  amount: str) -> Markup:
        """"auto-refund ¥199.00 in 3 hr 12 min" (``amount`` formatted), with the duration in a span the
        script keeps live."""
        if deadline is None:
            return Markup(escape(self("no deadline")))
        msgid = expiry_msgid(kind, case_type)
        outcome = self(msgid, amount=amount) if msgid else ""
        left = deadline - now
        span = Markup('<span class="countdown" data-deadline="{}">{}</span>').format(
            deadline.isoformat(), self.duration(left))
        if left.total_seconds() <= 0:
            return Markup(escape(self("{outcome}: the deadline has passed"))).format(outcome=outcome)
        template = self("{outcome} in {duration}") if outcome else self("{duration} left")
        return Markup(escape(template)).format(outcome=outcome, duration=span)

    def urgency(self, deadline: datetime | None, now: datetime) -> str | None:
        """``overdue`` or ``soon`` (the row stands out), else None."""
        if deadline is None:
            return None
        left = deadline - now
        if left.total_seconds() <= 0:
            return "overdue"
        return "soon" if left <= DUE_SOON else None
