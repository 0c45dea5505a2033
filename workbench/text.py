"""What the workbench says, in the reader's language: every label goes through the ``workbench``
gettext catalog (msgid = the English text), money and times through ``i18n``'s Babel formatting.

The domain's values (states, types, reasons, parties, deadlines, payout lines...) are named by
``i18n.words`` (``Text.word``); the tables here name what only the workbench shows: actions,
timeline entries, form fields and the keys of a timeline entry's data (a test checks each is
translated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup, escape

import i18n
from domain.models import CaseType
from domain.rules import ACTIONS
from i18n import words
from i18n.words import word

DOMAIN = "workbench"

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
}
#: Parcel scans on the timeline (``parcel_<status>``): "Parcel {status}", the status from ``i18n.words``.
PARCEL_EVENT = "Parcel {status}"
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

assert set(ACTION_LABELS) == set(ACTIONS), "every action has a label"


def time_zone_or_default(name: str | None) -> str:
    if name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return i18n.DEFAULT_TIME_ZONE


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

    def word(self, table: Mapping[str, str], value: str | None) -> str:
        """A domain value's word (``i18n.words``), capitalized as a label: ``Awaiting inspection``."""
        return word(self.locale, table, value, capitalized=True)

    def event(self, action: str) -> str:
        """A timeline entry the engine wrote: ``Reminder sent``, ``Parcel delivered``."""
        if action.startswith("parcel_") and action.removeprefix("parcel_") in words.PARCEL_STATUSES:
            return self(PARCEL_EVENT, status=word(self.locale, words.PARCEL_STATUSES, action.removeprefix("parcel_")))
        return self.label(ACTION_LABELS, action) if action in ACTION_LABELS else self.label(EVENTS, action)

    def money(self, amount: int | None, currency: str) -> str:
        return "" if amount is None else i18n.format_money(amount, currency, self.locale)

    def when(self, at: datetime | None) -> str:
        return "" if at is None else i18n.format_datetime(at, self.locale, self.time_zone)

    def duration(self, span: timedelta) -> str:
        return i18n.format_duration(span, self.locale)

    def unit_patterns(self) -> dict[str, list[str]]:
        """For the live countdown script: each unit's text for 1 and for many, ``{n}`` in place of the number."""
        return {unit: [i18n.format_unit_short(n, f"duration-{unit}", self.locale).replace(str(n), "{n}") for n in (1, 7)]
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
