"""What each notice kind says: a title and a body, as English msgids of the ``notices`` catalog
(``i18n/locales/<locale>/LC_MESSAGES/notices.po`` translates them), and which parameters carry
codes (deadline kinds, reasons, outcomes...): their words are ``i18n.words``'.

The decider (``domain``) emits a kind and its parameters; ``notices.render`` looks the kind up
here and fills the reader's words in. A kind the decider emits without an entry here fails the
tests (``tests/i18n/test_notices.py``), as does a msgid the zh-CN catalog does not translate.
"""

from __future__ import annotations

from dataclasses import dataclass

from i18n import words

#: The gettext domain of the notices.
DOMAIN = "notices"


@dataclass(frozen=True)
class NoticeText:
    """A kind's title and body, English msgids with ``{param}`` placeholders."""

    title: str
    body: str


KINDS: dict[str, NoticeText] = {
    # To the shop (staff, and the supervisor where the decider says so)
    "case_opened": NoticeText(
        "New after-sales request: {type}",
        "Case {case_id}: {type} for order {order_id}, reason: {reason}. Decide by {deadline_at}."),
    "reminder": NoticeText(
        "Reminder: {deadline} due in {before}",
        "Case {case_id}: the {deadline} deadline is {deadline_at}. If nobody acts by then: {outcome}. "
        "Amount: {amount}."),
    "revised": NoticeText(
        "Request revised: case {case_id}",
        "The buyer revised case {case_id}; it awaits your decision again."),
    "return_shipped": NoticeText(
        "Return shipped: {carrier} {tracking_number}",
        "The buyer shipped the return of case {case_id}: {carrier} {tracking_number}."),
    "return_delivered": NoticeText(
        "Return delivered: case {case_id}",
        "The return of case {case_id} was delivered: confirm and inspect it."),
    "dispute_risk": NoticeText(
        "Dispute risk: case {case_id}",
        "Case {case_id} has been open for {open_for}; buyers often escalate to the platform about now."),
    "needs_attention": NoticeText(
        "Case {case_id} needs attention",
        "The payment provider refused the refund of case {case_id}: {provider_reason}. Fix it and resume "
        "the case."),
    # To the buyer
    "rejected": NoticeText(
        "The shop refused your request",
        "The shop refused your request (case {case_id}): {refusal}. You may revise it, escalate to the "
        "platform, or accept."),
    "offer": NoticeText(
        "Partial refund offered: {amount}",
        "The shop offers a partial refund of {amount} if you keep the item (case {case_id})."),
    "return_required": NoticeText(
        "Please return the item",
        "The shop asks you to return the item first (case {case_id})."),
    "return_approved": NoticeText(
        "Return approved",
        "Your return was approved: ship the item back and submit the tracking number within {within} "
        "(case {case_id})."),
    "inspection_failed": NoticeText(
        "Inspection failed",
        "The inspection of case {case_id} found: {responsibility}. Accept to have the item sent back to you, "
        "or escalate to the platform."),
    "item_shipped": NoticeText(
        "Your item is on its way",
        "Your item is on its way (case {case_id}): {carrier} {tracking_number}."),
    "refund_paid": NoticeText(
        "Refund paid: {amount}",
        "{amount} is on its way back to your original payment method (case {case_id})."),
    "closed": NoticeText(
        "Case {case_id} closed",
        "Case {case_id} is closed: {close_reason}."),
    "satisfaction_followup": NoticeText(
        "How did we do?",
        "Your {type} request (case {case_id}) is done. Tell us how we did."),
    # To the buyer or the shop: whoever waits on the parcel
    "parcel_exception": NoticeText(
        "Parcel problem: {tracking_number}",
        "The {leg} parcel {tracking_number} of case {case_id} has a problem; check with the courier."),
    # To the platform
    "escalated": NoticeText(
        "Case {case_id} awaits a platform decision",
        "Case {case_id} was escalated and awaits a platform decision."),
    "overdue": NoticeText(
        "Overdue: case {case_id}",
        "Case {case_id}: the platform decision was due {since} and is still open."),
}

#: The ``outcome`` parameter of a reminder is ``Deadline.on_expiry``, the English outcome of
#: ``domain.deadlines`` (``Outcome.en``): itself the msgid; zh_CN translates it as ``Outcome.zh``.
OUTCOMES: tuple[str, ...] = (
    "auto-approve and refund",
    "auto-approve the return",
    "close as buyer_timeout",
    "auto-refund",
    "close as rejected",
    "the offer lapses and the merchant decides again",
    "close as returned_to_buyer",
    "convert to a refund",
    "escalate to the platform",
    "auto-confirm receipt",
    "remind platform staff",
    "remind the supervisor",
)

#: Parameters whose value is a code, and the words for each code (a code not listed is shown as it is).
#: Their words come from ``i18n.words`` (the ``words`` catalog), except the reminder's outcome (above).
CODES: dict[str, dict[str, str]] = {
    "deadline": words.DEADLINES,
    "type": words.TYPES,
    "reason": words.REASONS,
    "close_reason": words.CLOSE_REASONS,
    "responsibility": words.RESPONSIBILITIES,
    "leg": words.LEGS,
}

#: Parameters that are ISO 8601 times: shown in the reader's time zone.
TIMES = frozenset({"deadline_at", "since"})
#: Parameters that are policy durations (``"1d"``, ``"12h"``): shown in the reader's words.
DURATIONS = frozenset({"before", "within", "open_for"})


def msgids() -> list[str]:
    """Every msgid of the ``notices`` catalog the notices use (the catalogs must translate each into
    zh-CN); the words for codes are ``i18n.words``' (tested with them)."""
    return [part for text in KINDS.values() for part in (text.title, text.body)] + list(OUTCOMES)
