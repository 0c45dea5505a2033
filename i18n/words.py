"""The words for the domain's values, written once: every case state, type, reason, close reason,
deadline kind, party, role, responsibility, parcel leg and status, payout line and status, and
arbitration outcome, in the ``words`` catalog (``i18n/locales/<locale>/LC_MESSAGES/words.po``).

The workbench, the notices and the reports all name a value through ``word``:

    word("en", STATES, "awaiting_inspection", capitalized=True)  # "Awaiting inspection" (a label)
    word("en", REASONS, "out_of_stock")                          # "out of stock" (inside a sentence)
    word("zh-CN", REASONS, "out_of_stock")                       # "缺货" (either way)

The rule: a msgid is the English word as it reads inside a sentence (lower case, except what is
always capitalized); ``capitalized=True`` upper-cases the first letter of the translated word, for
a label standing on its own. Chinese has no case, so its words read the same either way.

Each table is keyed by its domain enum (or, where the domain has no enum, by its codes), so a
test checks that every member has a word and that zh_CN translates it.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.models import (
    CaseState,
    CaseType,
    CloseReason,
    LineKind,
    ParcelStatus,
    PayoutStatus,
    Reason,
    Responsibility,
    Role,
    WaitingOn,
)
from i18n import gettext

DOMAIN = "words"

STATES: dict[str, str] = {
    CaseState.AWAITING_MERCHANT_DECISION: "awaiting merchant decision",
    CaseState.AWAITING_BUYER_RESPONSE: "awaiting buyer response",
    CaseState.AWAITING_RETURN_SHIPMENT: "awaiting return shipment",
    CaseState.RETURN_IN_TRANSIT: "return in transit",
    CaseState.AWAITING_INSPECTION: "awaiting inspection",
    CaseState.AWAITING_MERCHANT_SHIPMENT: "awaiting merchant shipment",
    CaseState.AWAITING_BUYER_CONFIRMATION: "awaiting buyer confirmation",
    CaseState.IN_ARBITRATION: "in arbitration",
    CaseState.REFUNDING: "refunding",
    CaseState.NEEDS_ATTENTION: "needs attention",
    CaseState.REFUNDED: "refunded",
    CaseState.COMPLETED: "completed",
    CaseState.CLOSED: "closed",
}
TYPES: dict[str, str] = {
    CaseType.REFUND_ONLY: "refund only",
    CaseType.RETURN_REFUND: "return and refund",
    CaseType.EXCHANGE: "exchange",
    CaseType.REPAIR: "repair",
}
REASONS: dict[str, str] = {
    Reason.QUALITY_ISSUE: "quality issue",
    Reason.NOT_AS_DESCRIBED: "not as described",
    Reason.WRONG_ITEM: "wrong item",
    Reason.MISSING_ITEM: "missing item",
    Reason.DAMAGED_IN_TRANSIT: "damaged in transit",
    Reason.NOT_RECEIVED: "not received",
    Reason.OUT_OF_STOCK: "out of stock",
    Reason.NO_REASON: "no reason (7-day return)",
    Reason.CHANGED_MIND: "changed mind",
    Reason.OTHER: "other",
}
CLOSE_REASONS: dict[str, str] = {
    CloseReason.CANCELLED_BY_BUYER: "cancelled by the buyer",
    CloseReason.BUYER_TIMEOUT: "the buyer did not ship the return in time",
    CloseReason.REJECTED: "rejected by the shop",
    CloseReason.ARBITRATION_DENIED: "denied by the platform",
    CloseReason.RETURNED_TO_BUYER: "returned to the buyer",
    CloseReason.SHIPPED_BEFORE_REFUND: "shipped before the refund",
}
#: ``domain.deadlines.DEADLINES``' kinds, as nouns ("the {deadline} deadline", "{deadline} due in 1 day").
DEADLINES: dict[str, str] = {
    "merchant_decision": "merchant decision",
    "buyer_return_shipment": "return shipment",
    "merchant_inspection": "merchant inspection",
    "buyer_answer_refusal": "answer to the refusal",
    "buyer_answer_offer": "answer to the offer",
    "buyer_answer_inspection": "answer to the inspection",
    "merchant_shipment": "merchant shipment",
    "buyer_confirm_receipt": "receipt confirmation",
    "platform_decision": "platform decision",
    "needs_attention_followup": "needs-attention follow-up",
}
#: Who a case waits on (``CaseView.waiting_on``).
PARTIES: dict[str, str] = {
    WaitingOn.BUYER: "buyer",
    WaitingOn.MERCHANT: "merchant",
    WaitingOn.COURIER: "courier",
    WaitingOn.PLATFORM: "platform",
    WaitingOn.PAYMENT: "payment provider",
}
ROLES: dict[str, str] = {
    Role.SYSTEM: "system",
    Role.BUYER: "buyer",
    Role.STAFF: "staff",
    Role.SUPERVISOR: "supervisor",
    Role.PLATFORM: "platform",
    Role.OPERATOR: "operator",
}
RESPONSIBILITIES: dict[str, str] = {
    Responsibility.PRODUCT_DEFECT: "product defect",
    Responsibility.BUYER_MISUSE: "buyer misuse",
    Responsibility.TRANSIT_DAMAGE: "transit damage",
    Responsibility.NO_FAULT: "no fault",
}
#: The two parcels of a case (``domain.lifecycle``: the buyer's return, the shop's outbound).
LEGS: dict[str, str] = {"return": "return", "outbound": "outbound"}
PARCEL_STATUSES: dict[str, str] = {
    ParcelStatus.PICKED_UP: "picked up",
    ParcelStatus.IN_TRANSIT: "in transit",
    ParcelStatus.DELIVERED: "delivered",
    ParcelStatus.EXCEPTION: "problem",
}
#: The lines of a refund's breakdown.
LINES: dict[str, str] = {
    LineKind.ITEMS: "claimed items",
    LineKind.ORIGINAL_SHIPPING: "original shipping fee",
    LineKind.DEDUCTION: "deduction",
    LineKind.AGREED_ADJUSTMENT: "agreed adjustment",
    LineKind.RETURN_SHIPPING: "buyer's return shipping",
    LineKind.OUT_OF_STOCK_COMPENSATION: "out-of-stock compensation",
}
PAYOUTS: dict[str, str] = {
    PayoutStatus.NONE: "not started",
    PayoutStatus.PENDING: "being paid",
    PayoutStatus.PAID: "paid",
    PayoutStatus.FAILED: "failed",
}
#: ``ArbitrateCommand.outcome``: what the platform decides.
ARBITRATION_OUTCOMES: dict[str, str] = {
    "refund_full": "full refund",
    "refund_partial": "partial refund",
    "deny": "denied",
}

#: Every table, by name (the tests walk them; ``msgids`` lists their words).
TABLES: dict[str, dict[str, str]] = {
    "STATES": STATES, "TYPES": TYPES, "REASONS": REASONS, "CLOSE_REASONS": CLOSE_REASONS, "DEADLINES": DEADLINES,
    "PARTIES": PARTIES, "ROLES": ROLES, "RESPONSIBILITIES": RESPONSIBILITIES, "LEGS": LEGS,
    "PARCEL_STATUSES": PARCEL_STATUSES, "LINES": LINES, "PAYOUTS": PAYOUTS,
    "ARBITRATION_OUTCOMES": ARBITRATION_OUTCOMES,
}


def word(locale: str, table: Mapping[str, str], value: str | None, *, capitalized: bool = False) -> str:
    """The word for ``value`` (a member of ``table``'s enum or one of its codes) in ``locale``; a
    value the table does not know is shown as it is, None as ``""``. ``capitalized``: a label."""
    if value is None:
        return ""
    msgid = table.get(value)
    if msgid is None:
        return str(value)
    text = gettext(locale, DOMAIN, msgid)
    return text[:1].upper() + text[1:] if capitalized else text


def msgids() -> list[str]:
    """Every msgid of the tables (the zh_CN catalog must translate each)."""
    return sorted({msgid for table in TABLES.values() for msgid in table.values()})
