"""The case lifecycle as data plus one pure function (no Temporal here).

- ``STATES``: who each live state waits on and which deadlines run there;
- ``DEADLINES``: whose each deadline is, the policy window it uses, who is reminded before it,
  and what happens when it passes (a one-line outcome in en and zh-CN, and the handler);
- ``domain.rules.ACTION_TABLE``: who may take each action where; ``ON_COMMAND`` here: what it does;
- ``decide(case, input, now, policy) -> (case, effects)``: the new case data and the effects to
  carry out in order (notify, pay, poll the courier, settle with the order ledger).

"What happens when the buyer ignores a refusal?" is ``DEADLINES["buyer_answer_refusal"]``;
"who may extend the inspection deadline?" is ``ACTION_TABLE["extend_deadline"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain import commands as c
from domain import money
from domain.casefile import (
    Alarm,
    AlarmRang,
    Case,
    Deadline,
    Effect,
    Input,
    Notify,
    ParcelScanned,
    Pay,
    PayoutPaid,
    PayoutRefused,
    PollCourier,
    Settle,
)
from domain.checks import check
from domain.commands import BuyerContext, CaseCommand
from domain.durations import format_duration
from domain.models import (
    SYSTEM_ACTOR,
    BreakdownLine,
    CaseRequest,
    CaseState,
    CaseType,
    ClaimGrant,
    CloseReason,
    LineKind,
    ParcelStatus,
    PayoutStatus,
    Principal,
    Reason,
    Role,
    TimelineActor,
    TimelineEntry,
    WaitingOn,
)
from domain.policy import Deadlines, Policy
from domain.rules import resolve

S = CaseState

#: A deadline without an automatic outcome (platform decision, needs attention) is re-armed after
#: it passes, with a reminder each time, at most this often; then the case waits without one.
MAX_REARMS = 10


@dataclass(frozen=True)
class StateRule:
    waiting_on: WaitingOn | None
    deadlines: tuple[str, ...] = ()


STATES: dict[CaseState, StateRule] = {
    S.AWAITING_MERCHANT_DECISION: StateRule(WaitingOn.MERCHANT, ("merchant_decision",)),
    S.AWAITING_BUYER_RESPONSE: StateRule(WaitingOn.BUYER, ("buyer_answer_refusal", "buyer_answer_offer",
                                                            "buyer_answer_inspection")),
    S.AWAITING_RETURN_SHIPMENT: StateRule(WaitingOn.BUYER, ("buyer_return_shipment",)),
    S.RETURN_IN_TRANSIT: StateRule(WaitingOn.COURIER, ("merchant_inspection",)),
    S.AWAITING_INSPECTION: StateRule(WaitingOn.MERCHANT, ("merchant_inspection",)),
    S.AWAITING_MERCHANT_SHIPMENT: StateRule(WaitingOn.MERCHANT, ("merchant_shipment",)),
    S.AWAITING_BUYER_CONFIRMATION: StateRule(WaitingOn.BUYER, ("buyer_confirm_receipt",)),
    S.IN_ARBITRATION: StateRule(WaitingOn.PLATFORM, ("platform_decision",)),
    S.REFUNDING: StateRule(WaitingOn.PAYMENT),
    S.NEEDS_ATTENTION: StateRule(WaitingOn.MERCHANT, ("needs_attention_followup",)),
    S.REFUNDED: StateRule(None),
    S.COMPLETED: StateRule(None),
    S.CLOSED: StateRule(None),
}


@dataclass(frozen=True)
class Outcome:
    en: str
    zh: str


@dataclass(frozen=True)
class DeadlineRule:
    owner: WaitingOn
    window: Callable[[Case, Deadlines], timedelta]
    outcome: Callable[[Case], Outcome]
    expire: Callable[[_Step], None]
    #: Who is reminded before it (``policy.reminders``: shop -> merchant, supervisor, buyer).
    reminded: tuple[str, ...] = ()
    #: Re-armed when it passes (no automatic outcome; ``MAX_REARMS`` at most).
    rearms: bool = False


# --------------------------------------------------------------------------------------------
# One step of a case: the case being changed, the effects so far, and the verbs of the rules.


class _Step:
    def __init__(self, case: Case, now: datetime, policy: Policy) -> None:
        self.case = case.model_copy(update={"timeline": list(case.timeline), "fired": list(case.fired),
                                            "seen_parcel_events": list(case.seen_parcel_events)})
        self.now = now
        self.policy = policy
        self.effects: list[Effect] = []

    def record(self, actor: Principal, action: str, detail: dict[str, Any], at: datetime | None = None) -> None:
        self.case.timeline.append(TimelineEntry(at=at or self.now, actor=TimelineActor(role=actor.role, id=actor.id),
                                                action=action, detail=detail))

    def notify(self, party: WaitingOn, kind: str, message: str, *, supervisor: bool = False, shop: bool = True,
               **params: Any) -> None:
        case = self.case
        recipients: list[tuple[Role, str]] = []
        if party == WaitingOn.BUYER:
            recipients.append((Role.BUYER, case.order.buyer_id))
        elif party == WaitingOn.PLATFORM:
            recipients.append((Role.PLATFORM, "platform"))
        else:
            if shop:
                recipients.append((Role.STAFF, case.order.shop_id))
            if supervisor:
                recipients.append((Role.SUPERVISOR, case.order.shop_id))
        for role, recipient in recipients:
            key = f"{case.case_id}:{len(case.timeline)}:{kind}:{role}"
            self.effects.append(Notify(role=role, recipient_id=recipient, kind=kind, message=message,
                                       dedupe_key=key, params={"case_id": case.case_id, **params}))

    def touch(self) -> None:
        self.case.version += 1
        self.case.updated_at = self.now

    def deadline(self, kind: str, base: datetime | None = None) -> Deadline:
        rule = DEADLINES[kind]
        window = rule.window(self.case, self.policy.deadlines)
        return Deadline(kind=kind, at=(base or self.now) + window, owner=rule.owner,
                        on_expiry=rule.outcome(self.case).en, set_at=self.now)

    def enter(self, state: CaseState, deadline: Deadline | str | None = None) -> None:
        if state != S.AWAITING_BUYER_RESPONSE:
            self.case.buyer_context = None
        self.case.state = state
        self.case.deadline = self.deadline(deadline) if isinstance(deadline, str) else deadline
        self.touch()
        if state == S.REFUNDING:
            self._start_payout()

    def _start_payout(self) -> None:
        case = self.case
        lines = payout_lines(case, self.policy)
        refund, reimbursement = money.refund_total(lines), money.reimbursement_total(lines)
        if refund + reimbursement == 0:
            case.paid_lines = lines
            self.finish_payout()
            return
        case.payout_status = PayoutStatus.PENDING
        self.effects.append(Pay(idempotency_key=case.payout_key(case.payout_generation),
                                earlier_keys=[case.payout_key(g) for g in range(case.payout_generation)],
                                refund=refund, reimbursement=reimbursement, lines=lines))

    def finish_payout(self) -> None:
        self.case.payout_status = PayoutStatus.PAID
        self.end(S.COMPLETED if self.case.keeps_replacement else S.REFUNDED, None)

    def end(self, state: CaseState, reason: CloseReason | None) -> None:
        case = self.case
        case.close_reason = reason
        case.ended_at = self.now
        self.enter(state, None)
        self.record(SYSTEM_ACTOR, "ended", {"state": state, "close_reason": reason})
        paid = case.paid_lines or []
        refunded = money.refund_total(paid) if state == S.REFUNDED else 0
        shipping = refunded > 0 and any(line.kind == LineKind.ORIGINAL_SHIPPING for line in paid)
        self.effects.append(Settle(refunded=refunded, shipping_refunded=shipping, keeps_items=state == S.REFUNDED))

    def close(self, reason: CloseReason) -> None:
        self.end(S.CLOSED, reason)
        self.notify(WaitingOn.BUYER, "closed", f"Case {self.case.case_id} is closed: {reason}", close_reason=reason)

    def complete(self) -> None:
        if money.reimbursement_total(payout_lines(self.case, self.policy)) > 0:
            self.enter(S.REFUNDING)
        else:
            self.end(S.COMPLETED, None)

    def await_return(self) -> None:
        window = self.policy.deadlines.buyer_return_shipment
        self.enter(S.AWAITING_RETURN_SHIPMENT, "buyer_return_shipment")
        self.notify(WaitingOn.BUYER, "return_approved", "Your return was approved: ship the item back "
                    f"and submit the tracking number within {format_duration(window)}", within=format_duration(window))

    def escalate(self) -> None:
        self.enter(S.IN_ARBITRATION, "platform_decision")
        self.notify(WaitingOn.PLATFORM, "escalated", f"Case {self.case.case_id} awaits a platform decision")

    def refund_now(self, action: str, **detail: Any) -> None:
        self.record(SYSTEM_ACTOR, action, {"refund": refund_amount(self.case, self.policy), **detail})
        self.enter(S.REFUNDING)


# --------------------------------------------------------------------------------------------
# Money (the arithmetic is domain.money's)


def payout_lines(case: Case, policy: Policy) -> list[BreakdownLine]:
    """What the case pays (or paid), line by line."""
    if case.paid_lines is not None:
        return case.paid_lines
    return_shipping = money.return_shipping_reimbursement(case.reason, case.return_cost, policy)
    lines = money.breakdown(case.grant, deduction=case.deduction, agreed_refund=case.agreed_refund,
                            return_shipping=return_shipping, compensation=case.compensation)
    if case.keeps_replacement:
        lines = [line for line in lines if line.kind not in money.REFUND_LINES]
    return lines


def refund_amount(case: Case, policy: Policy) -> int:
    return money.refund_total(payout_lines(case, policy))


# --------------------------------------------------------------------------------------------
# Deadlines: what happens when each one passes


def _merchant_decision_expired(s: _Step) -> None:
    case = s.case
    if case.type != CaseType.REFUND_ONLY:
        s.record(SYSTEM_ACTOR, "auto_approved", {"return": True})
        s.await_return()
        return
    if case.reason == Reason.OUT_OF_STOCK:
        case.compensation = money.out_of_stock_compensation(case.grant.items_value, s.policy)
    case.agreed_refund = case.default_approval_amount()
    s.refund_now("auto_approved", compensation=case.compensation)


def _offer_lapsed(s: _Step) -> None:
    s.record(SYSTEM_ACTOR, "offer_lapsed", {"offer": s.case.offer})
    s.case.offer = None
    s.enter(S.AWAITING_MERCHANT_DECISION, "merchant_decision")


def _inspection_overdue(s: _Step) -> None:
    s.case.converted_to_refund = s.case.type in (CaseType.EXCHANGE, CaseType.REPAIR)
    s.refund_now("auto_refund")


def _shipment_overdue(s: _Step) -> None:
    if s.case.type == CaseType.EXCHANGE:
        s.case.converted_to_refund = True
        s.refund_now("converted_to_refund")
    else:
        s.record(SYSTEM_ACTOR, "escalated_to_platform", {})
        s.escalate()


def _receipt_overdue(s: _Step) -> None:
    s.record(SYSTEM_ACTOR, "auto_confirmed", {})
    s.complete()


def _platform_overdue(s: _Step) -> None:
    d = s.case.deadline
    assert d is not None
    s.notify(WaitingOn.PLATFORM, "overdue", f"Case {s.case.case_id} awaits a platform decision since "
             f"{d.at.isoformat()}", since=d.at.isoformat())


def _attention_overdue(s: _Step) -> None:
    s.notify(WaitingOn.MERCHANT, "needs_attention", f"Case {s.case.case_id} still needs attention: "
             f"{s.case.needs_attention_reason}", supervisor=True, shop=False, reason=s.case.needs_attention_reason)


def _closes(reason: CloseReason) -> Callable[[_Step], None]:
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


def _expire(s: _Step) -> None:
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


# --------------------------------------------------------------------------------------------
# Alarms: deadlines, the reminders before them, dispute risk, courier polling, follow-up


def alarms(case: Case, policy: Policy) -> list[Alarm]:
    """Every alarm still to fire, in no particular order."""
    return [a for a in _all_alarms(case, policy) if a.key not in case.fired]


def _all_alarms(case: Case, policy: Policy) -> list[Alarm]:
    found: list[Alarm] = []
    d, dl = case.deadline, policy.deadlines
    if d is not None:
        stamp = d.at.isoformat()
        found.append(Alarm(d.at, f"deadline:{d.kind}:{stamp}", f"{d.owner}'s {d.kind} deadline: {d.on_expiry}"))
        for recipient in DEADLINES[d.kind].reminded:
            befores = {"shop": policy.reminders.merchant, "supervisor": policy.reminders.supervisor,
                       "buyer": policy.reminders.buyer}[recipient]
            for before in befores:
                at = d.at - before
                if at > d.set_at:
                    found.append(Alarm(at, f"remind:{recipient}:{format_duration(before)}:{stamp}",
                                       f"remind {recipient} {format_duration(before)} before {d.kind}"))
    if not case.dispute_risk and not case.state.terminal:
        found.append(Alarm(case.created_at + dl.dispute_risk_after, "dispute_risk", "flag dispute risk"))
    if case.state == S.RETURN_IN_TRANSIT and case.return_tracking:
        at = (case.last_poll_at or case.return_submitted_at or case.created_at) + dl.courier_poll_interval
        found.append(Alarm(at, f"poll:{at.isoformat()}", "ask the courier about the return parcel"))
    if case.state.terminal and not case.followup_sent and case.ended_at is not None:
        found.append(Alarm(case.ended_at + dl.satisfaction_followup, "followup", "satisfaction follow-up"))
    return found


def _ring(s: _Step, cutoff: datetime) -> None:
    """Fire, in order, every alarm due at ``cutoff``; a deadline ends the round (the state changed)."""
    case = s.case
    for alarm in sorted(alarms(case, s.policy), key=lambda a: a.at):
        if alarm.at > cutoff:
            break
        case.fired.append(alarm.key)
        kind = alarm.key.split(":", 1)[0]
        if kind == "deadline":
            _expire(s)
            return
        if kind == "remind":
            if case.deadline is not None and cutoff < case.deadline.at:  # overtaken by its deadline: moot
                _remind(s, alarm)
        elif kind == "dispute_risk":
            case.dispute_risk = True
            s.touch()
            open_for = format_duration(s.policy.deadlines.dispute_risk_after)
            s.record(SYSTEM_ACTOR, "dispute_risk_flagged", {"open_for": open_for})
            s.notify(WaitingOn.MERCHANT, "dispute_risk", f"Case {case.case_id} has been open for {open_for}; "
                     "buyers escalate about now", supervisor=True, open_for=open_for)
        elif kind == "poll":
            case.last_poll_at = s.now
            assert case.return_carrier and case.return_tracking
            s.effects.append(PollCourier(carrier=case.return_carrier, tracking_number=case.return_tracking))
        elif kind == "followup":
            case.followup_sent = True
            s.record(SYSTEM_ACTOR, "satisfaction_followup_sent", {})
            s.notify(WaitingOn.BUYER, "satisfaction_followup",
                     f"How did we do with your {case.type} request {case.case_id}?")


def _remind(s: _Step, alarm: Alarm) -> None:
    _, recipient, before, _ = alarm.key.split(":", 3)
    d = s.case.deadline
    assert d is not None
    text = f"{d.kind} deadline at {d.at.isoformat()} ({before} left): {d.on_expiry} if nobody acts"
    s.record(SYSTEM_ACTOR, "reminder_sent", {"to": recipient, "deadline": d.kind, "before": before,
                                             "deadline_at": d.at.isoformat()})
    params: dict[str, Any] = {"deadline": d.kind, "deadline_at": d.at.isoformat(), "before": before}
    if recipient == "buyer":
        s.notify(WaitingOn.BUYER, "reminder", text, **params)
    else:
        s.notify(WaitingOn.MERCHANT, "reminder", text, supervisor=recipient == "supervisor",
                 shop=recipient == "shop", **params)


# --------------------------------------------------------------------------------------------
# Commands: what each action does (who may take it where: domain.rules.ACTION_TABLE)


def _approve(s: _Step, cmd: c.ApproveCommand) -> None:
    if s.case.type != CaseType.REFUND_ONLY:
        s.await_return()
        return
    s.case.agreed_refund = cmd.amount if cmd.amount is not None else s.case.default_approval_amount()
    s.enter(S.REFUNDING)


def _reject(s: _Step, cmd: c.RejectCommand) -> None:
    s.case.buyer_context = BuyerContext.REFUSAL
    s.enter(S.AWAITING_BUYER_RESPONSE, "buyer_answer_refusal")
    s.notify(WaitingOn.BUYER, "rejected", f"The shop refused your request: {cmd.reason}. You may revise "
             "it, escalate to the platform, or accept", reason=cmd.reason)


def _offer(s: _Step, cmd: c.OfferPartialRefundCommand) -> None:
    s.case.offer = cmd.amount
    s.case.buyer_context = BuyerContext.OFFER
    s.enter(S.AWAITING_BUYER_RESPONSE, "buyer_answer_offer")
    s.notify(WaitingOn.BUYER, "offer", f"The shop offers a partial refund of {cmd.amount} "
             f"{s.case.order.currency} minor units if you keep the item", amount=cmd.amount,
             currency=s.case.order.currency)


def _require_return(s: _Step, cmd: c.RequireReturnCommand) -> None:
    s.case.type = CaseType.RETURN_REFUND
    s.enter(S.AWAITING_RETURN_SHIPMENT, "buyer_return_shipment")
    s.notify(WaitingOn.BUYER, "return_required", "The shop asks you to return the item first")


def _accept(s: _Step, cmd: c.AcceptOfferCommand) -> None:
    if s.case.buyer_context == BuyerContext.OFFER:
        s.case.agreed_refund = s.case.offer
        s.enter(S.REFUNDING)
    else:  # accepting the refusal
        s.close(CloseReason.REJECTED)


def _accept_return(s: _Step, cmd: c.AcceptReturnToBuyerCommand | c.AcceptOfferCommand) -> None:
    s.close(CloseReason.RETURNED_TO_BUYER)


def _decline(s: _Step, cmd: c.DeclineOfferCommand) -> None:
    s.case.offer = None
    s.enter(S.AWAITING_MERCHANT_DECISION, "merchant_decision")


def _revise(s: _Step, cmd: c.ReviseCommand) -> None:
    if cmd.requested_refund is not None:
        s.case.requested_refund = cmd.requested_refund
    s.enter(S.AWAITING_MERCHANT_DECISION, "merchant_decision")
    s.notify(WaitingOn.MERCHANT, "revised", f"The buyer revised case {s.case.case_id}")


def _return_shipped(s: _Step, cmd: c.SubmitReturnShipmentCommand) -> None:
    case = s.case
    case.return_carrier, case.return_tracking, case.return_cost = cmd.carrier, cmd.tracking_number, cmd.shipping_cost
    case.return_submitted_at = s.now
    s.enter(S.RETURN_IN_TRANSIT, "merchant_inspection")
    s.notify(WaitingOn.MERCHANT, "return_shipped", f"The buyer shipped the return: {cmd.carrier} "
             f"{cmd.tracking_number}", carrier=cmd.carrier, tracking_number=cmd.tracking_number)


def _return_received(s: _Step, cmd: c.ConfirmReturnReceivedCommand) -> None:
    s.enter(S.AWAITING_INSPECTION, s.case.deadline)


def _inspected(s: _Step, cmd: c.RecordInspectionCommand) -> None:
    case = s.case
    if not cmd.passed:
        case.buyer_context = BuyerContext.INSPECTION_FAILED
        s.enter(S.AWAITING_BUYER_RESPONSE, "buyer_answer_inspection")
        s.notify(WaitingOn.BUYER, "inspection_failed", f"The inspection found {cmd.responsibility}; "
                 "accept to have the item sent back, or escalate to the platform", responsibility=cmd.responsibility)
        return
    case.deduction = cmd.deduction or 0
    if case.type == CaseType.RETURN_REFUND:
        s.enter(S.REFUNDING)
    else:
        s.enter(S.AWAITING_MERCHANT_SHIPMENT, "merchant_shipment")


def _shipped(s: _Step, cmd: c.ShipItemCommand) -> None:
    s.case.outbound_tracking = cmd.tracking_number
    s.enter(S.AWAITING_BUYER_CONFIRMATION, "buyer_confirm_receipt")
    s.notify(WaitingOn.BUYER, "item_shipped", f"Your item is on its way: {cmd.carrier} {cmd.tracking_number}",
             carrier=cmd.carrier, tracking_number=cmd.tracking_number)


def _arbitrate(s: _Step, cmd: c.ArbitrateCommand) -> None:
    case = s.case
    if cmd.outcome == "deny":
        s.close(CloseReason.ARBITRATION_DENIED)
        return
    case.converted_to_refund = case.type in (CaseType.EXCHANGE, CaseType.REPAIR)
    if cmd.outcome == "refund_full":
        case.deduction, case.agreed_refund = 0, None
    else:
        case.agreed_refund = cmd.amount
    s.enter(S.REFUNDING)


def _extend(s: _Step, cmd: c.ExtendDeadlineCommand) -> None:
    d = s.case.deadline
    assert d is not None
    s.case.deadline = d.model_copy(update={"at": d.at + cmd.by})
    s.touch()


def _resume(s: _Step, cmd: c.ResumeCommand) -> None:
    s.case.needs_attention_reason = None
    s.case.payout_generation += 1
    s.enter(S.REFUNDING)


ON_COMMAND: dict[str, Callable[[_Step, Any], None]] = {
    "approve": _approve,
    "reject": _reject,
    "offer_partial_refund": _offer,
    "require_return": _require_return,
    "accept_offer": _accept,
    "accept_return_to_buyer": _accept_return,
    "decline_offer": _decline,
    "revise": _revise,
    "submit_return_shipment": _return_shipped,
    "confirm_return_received": _return_received,
    "record_inspection": _inspected,
    "ship_item": _shipped,
    "confirm_receipt": lambda s, cmd: s.complete(),
    "cancel": lambda s, cmd: s.close(CloseReason.CANCELLED_BY_BUYER),
    "escalate": lambda s, cmd: s.escalate(),
    "arbitrate": _arbitrate,
    "resume": _resume,
    "extend_deadline": _extend,
    "add_note": lambda s, cmd: s.touch(),
}


def _command(s: _Step, envelope: CaseCommand) -> None:
    cmd = envelope.command
    detail = cmd.detail()
    if isinstance(cmd, c.ExtendDeadlineCommand) and s.case.deadline is not None:
        detail["new_deadline"] = (s.case.deadline.at + cmd.by).isoformat()
    s.record(envelope.actor, cmd.action, detail)
    s.case.last_automatic = None
    ON_COMMAND[resolve(cmd.action, s.case.facts())](s, cmd)


# --------------------------------------------------------------------------------------------
# Parcels and payouts


def _parcel(s: _Step, event: ParcelScanned) -> None:
    case = s.case
    is_return = event.tracking_number == case.return_tracking
    if not is_return and event.tracking_number != case.outbound_tracking:
        return
    leg = "return" if is_return else "outbound"
    key = f"{leg}:{event.status}"  # two legs, four statuses: bounded
    if key in case.seen_parcel_events:
        return
    case.seen_parcel_events.append(key)
    s.record(SYSTEM_ACTOR, "parcel_" + event.status, {
        "leg": leg, "carrier": event.carrier, "tracking_number": event.tracking_number,
        "occurred_at": event.occurred_at.isoformat(), "source": event.source})
    if event.status == ParcelStatus.EXCEPTION:
        s.notify(WaitingOn.MERCHANT if is_return else WaitingOn.BUYER, "parcel_exception",
                 f"The {leg} parcel {event.tracking_number} has a problem", tracking_number=event.tracking_number)
    if is_return and event.status == ParcelStatus.DELIVERED and case.state == S.RETURN_IN_TRANSIT:
        s.enter(S.AWAITING_INSPECTION, s.deadline("merchant_inspection", base=event.occurred_at))
        s.notify(WaitingOn.MERCHANT, "return_delivered", f"The return of case {case.case_id} was "
                 "delivered: confirm and inspect it")
    else:
        s.touch()


def _paid(s: _Step, result: PayoutPaid) -> None:
    case = s.case
    lines = payout_lines(case, s.policy)
    refund, reimbursement = money.refund_total(lines), money.reimbursement_total(lines)
    case.paid_lines = lines
    case.payment_id = result.payment_id
    s.record(SYSTEM_ACTOR, "refund_paid", {"payment_id": result.payment_id, "amount": result.amount,
                                           "refund": refund, "reimbursement": reimbursement,
                                           "currency": result.currency,
                                           "idempotency_key": result.paid_under or case.payout_key(case.payout_generation),
                                           "already_paid": result.already_paid})
    s.notify(WaitingOn.BUYER, "refund_paid", f"{result.amount} {result.currency} minor units are on "
             "their way back to your original payment method", amount=result.amount, currency=result.currency)
    s.finish_payout()


def _refused(s: _Step, result: PayoutRefused) -> None:
    case = s.case
    case.payout_status = PayoutStatus.FAILED
    case.needs_attention_reason = f"payment refused: {result.reason}"
    s.record(SYSTEM_ACTOR, "payment_failed", {"reason": result.reason,
                                              "idempotency_key": case.payout_key(case.payout_generation)})
    s.enter(S.NEEDS_ATTENTION, "needs_attention_followup")
    s.notify(WaitingOn.MERCHANT, "needs_attention", f"Refund for case {case.case_id} failed: {result.reason}. "
             "Fix it and resume the case", supervisor=True, shop=False, reason=result.reason)


# --------------------------------------------------------------------------------------------
# The decider


def open_case(request: CaseRequest, grant: ClaimGrant, *, ledger_workflow_id: str, opened_by: Principal,
              opened_at: datetime, now: datetime, policy: Policy) -> tuple[Case, list[Effect]]:
    """A new case waiting on the merchant's decision, and its first notice."""
    s = _Step(Case.opened(request, grant, ledger_workflow_id, opened_at), now, policy)
    s.enter(S.AWAITING_MERCHANT_DECISION, s.deadline("merchant_decision", base=opened_at))
    s.record(opened_by, "opened", {
        "type": request.type, "reason": request.reason, "items": [i.model_dump() for i in request.items],
        "requested_refund": request.requested_refund, "description": request.description,
        "evidence": request.evidence, "policy_version": policy.version, "max_refund": grant.max_refund,
        "currency": request.order.currency}, at=opened_at)
    s.notify(WaitingOn.MERCHANT, "case_opened",
             f"New {request.type} request ({request.reason}) for order {request.order.order_id}",
             type=request.type, reason=request.reason, order_id=request.order.order_id)
    return s.case, s.effects


def decide(case: Case, event: Input, now: datetime, policy: Policy) -> tuple[Case, list[Effect]]:
    """The case after ``event`` at ``now``, and the effects to carry out in order.

    A command is checked first (``domain.checks.check``): a refused one raises ``Refused``.
    """
    if isinstance(event, CaseCommand):
        check(case, event, now, policy)
    s = _Step(case, now, policy)
    if isinstance(event, CaseCommand):
        _command(s, event)
    elif isinstance(event, AlarmRang):
        _ring(s, event.at)
    elif isinstance(event, ParcelScanned):
        _parcel(s, event)
    elif isinstance(event, PayoutPaid):
        _paid(s, event)
    elif isinstance(event, PayoutRefused):
        _refused(s, event)
    live = {a.key for a in _all_alarms(s.case, policy)}
    s.case.fired = [key for key in s.case.fired if key in live]  # only the current deadline's: bounded
    return s.case, s.effects


def waiting_on(case: Case) -> WaitingOn | None:
    return STATES[case.state].waiting_on
