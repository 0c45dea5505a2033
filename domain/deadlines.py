"""The deadlines of a case: whose each one is, the policy window it uses, who is reminded before
it, and what happens when it passes (a one-line outcome in en and zh-CN, and the rule itself).

"What happens when the buyer ignores a refusal?" is ``DEADLINES["buyer_answer_refusal"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from domain import money
from domain.casefile import Case
from domain.models import SYSTEM_ACTOR, CaseState, CaseType, CloseReason, Reason, WaitingOn
from domain.policy import Deadlines
from domain.step import Step

S = CaseState

#: A deadline without an automatic outcome (platform decision, needs attention) is re-armed after
#: it passes, with a reminder each time, at most this often; then the case waits without one.
MAX_REARMS = 10


@dataclass(frozen=True)
class Outcome:
    en: str
    zh: str


@dataclass(frozen=True)
class DeadlineRule:
    owner: WaitingOn
    window: Callable[[Case, Deadlines], timedelta]
    outcome: Callable[[Case], Outcome]
    expire: Callable[[Step], None]
    #: Who is reminded before it (``policy.reminders``: shop -> merchant, supervisor, buyer).
    reminded: tuple[str, ...] = ()
    #: Re-armed when it passes (no automatic outcome; ``MAX_REARMS`` at most).
    rearms: bool = False


def _merchant_decision_expired(s: Step) -> None:
    case = s.case
    if case.type != CaseType.REFUND_ONLY:
        s.record(SYSTEM_ACTOR, "auto_approved", {"return": True})
        s.await_return()
        return
    if case.reason == Reason.OUT_OF_STOCK:
        case.compensation = money.out_of_stock_compensation(case.grant.items_value, s.policy)
    case.agreed_refund = case.default_approval_amount()
    s.refund_now("auto_approved", compensation=case.compensation)


def _offer_lapsed(s: Step) -> None:
    s.record(SYSTEM_ACTOR, "offer_lapsed", {"offer": s.case.offer})
    s.case.offer = None
    s.enter(S.AWAITING_MERCHANT_DECISION, "merchant_decision")


def _inspection_overdue(s: Step) -> None:
    s.case.converted_to_refund = s.case.type in (CaseType.EXCHANGE, CaseType.REPAIR)
    s.refund_now("auto_refund")


def _shipment_overdue(s: Step) -> None:
    if s.case.type == CaseType.EXCHANGE:
        s.case.converted_to_refund = True
        s.refund_now("converted_to_refund")
    else:
        s.record(SYSTEM_ACTOR, "escalated_to_platform", {})
        s.escalate()


def _receipt_overdue(s: Step) -> None:
    s.record(SYSTEM_ACTOR, "auto_confirmed", {})
    s.complete()


def _platform_overdue(s: Step) -> None:
    d = s.case.deadline
    assert d is not None
    s.notify(WaitingOn.PLATFORM, "overdue", since=d.at.isoformat())


def _attention_overdue(s: Step) -> None:
    # A refused payout is the only way into needs_attention: the provider's reason, as first told.
    refused = next((e for e in reversed(s.case.timeline) if e.action == "payment_failed"), None)
    reason = str(refused.detail.get("reason", "")) if refused else (s.case.needs_attention_reason or "")
    s.notify(WaitingOn.MERCHANT, "needs_attention", supervisor=True, shop=False, provider_reason=reason)


def _closes(reason: CloseReason) -> Callable[[Step], None]:
    return lambda s: s.close(reason)


def _fixed(en: str, zh: str) -> Callable[[Case], Outcome]:
    outcome = Outcome(en, zh)
    return lambda case: outcome


MERCHANT_REMINDED = ("shop", "supervisor")

DEADLINES: dict[str, DeadlineRule] = {
    "merchant_decision": DeadlineRule(
        WaitingOn.MERCHANT, lambda case, d: d.merchant_decision(case.order.shipped_at is not None),
        lambda case: Outcome("auto-approve and refund", "自动同意并退款") if case.type == CaseType.REFUND_ONLY
        else Outcome("auto-approve the return", "自动同意退货"),
        _merchant_decision_expired, MERCHANT_REMINDED),
    "buyer_return_shipment": DeadlineRule(
        WaitingOn.BUYER, lambda case, d: d.buyer_return_shipment,
        _fixed("close as buyer_timeout", "关闭（买家超时）"), _closes(CloseReason.BUYER_TIMEOUT), ("buyer",)),
    "merchant_inspection": DeadlineRule(
        WaitingOn.MERCHANT, lambda case, d: d.merchant_inspection,
        _fixed("auto-refund", "自动退款"), _inspection_overdue, MERCHANT_REMINDED),
    "buyer_answer_refusal": DeadlineRule(
        WaitingOn.BUYER, lambda case, d: d.buyer_answer_refusal,
        _fixed("close as rejected", "关闭（已拒绝）"), _closes(CloseReason.REJECTED), ("buyer",)),
    "buyer_answer_offer": DeadlineRule(
        WaitingOn.BUYER, lambda case, d: d.buyer_answer_offer,
        _fixed("the offer lapses and the merchant decides again", "报价失效，商家重新处理"), _offer_lapsed, ("buyer",)),
    "buyer_answer_inspection": DeadlineRule(
        WaitingOn.BUYER, lambda case, d: d.buyer_answer_inspection,
        _fixed("close as returned_to_buyer", "关闭（退回买家）"), _closes(CloseReason.RETURNED_TO_BUYER), ("buyer",)),
    "merchant_shipment": DeadlineRule(
        WaitingOn.MERCHANT,
        lambda case, d: d.merchant_ship_exchange if case.type == CaseType.EXCHANGE else d.merchant_ship_repair,
        lambda case: Outcome("convert to a refund", "转为退款") if case.type == CaseType.EXCHANGE
        else Outcome("escalate to the platform", "提交平台处理"),
        _shipment_overdue, MERCHANT_REMINDED),
    "buyer_confirm_receipt": DeadlineRule(
        WaitingOn.BUYER, lambda case, d: d.buyer_confirm_receipt,
        _fixed("auto-confirm receipt", "自动确认收货"), _receipt_overdue, ("buyer",)),
    "platform_decision": DeadlineRule(
        WaitingOn.PLATFORM, lambda case, d: d.platform_decision,
        _fixed("remind platform staff", "提醒平台客服"), _platform_overdue, rearms=True),
    "needs_attention_followup": DeadlineRule(
        WaitingOn.MERCHANT, lambda case, d: d.needs_attention_followup,
        _fixed("remind the supervisor", "提醒主管"), _attention_overdue, MERCHANT_REMINDED, rearms=True),
}


def expire(s: Step) -> None:
    d = s.case.deadline
    assert d is not None
    rule = DEADLINES[d.kind]
    s.record(SYSTEM_ACTOR, "deadline_expired", {"deadline": d.kind, "deadline_at": d.at.isoformat(),
                                                "outcome": d.on_expiry})
    s.case.last_automatic = f"the {d.kind} deadline passed at {d.at.isoformat()}: {d.on_expiry}"
    rule.expire(s)
    if rule.rearms:
        again = s.deadline(d.kind).model_copy(update={"repeats": d.repeats + 1})
        s.case.deadline = again if again.repeats <= MAX_REARMS else None
        s.touch()
