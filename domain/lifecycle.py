"""The case lifecycle as data plus one pure function (no Temporal here).

The tables, each a module of its own:
- ``STATES`` (here): who each state waits on and which deadlines run there;
- ``domain.deadlines.DEADLINES``: whose each deadline is, its policy window, who is reminded
  before it, and what happens when it passes (in en and zh-CN);
- ``domain.rules.ACTION_TABLE``: who may take each action in which state, its command model and
  its one-line description; ``domain.actions.ON_COMMAND``: what it does.

``decide(case, input, now, policy) -> (case, effects)`` returns the new case data and the effects
to carry out in order (notify whom about what, pay which lines, poll the courier, settle with
the order ledger). "What happens when the buyer ignores a refusal?" is
``DEADLINES["buyer_answer_refusal"]``; "who may extend the inspection deadline?" is
``ACTION_TABLE["extend_deadline"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.actions import ON_COMMAND, apply_command
from domain.casefile import (
    Alarm,
    AlarmRang,
    Case,
    Effect,
    Input,
    ParcelScanned,
    PayoutPaid,
    PayoutRefused,
    PollCourier,
)
from domain.checks import check
from domain.commands import CaseCommand
from domain.deadlines import DEADLINES, MAX_REARMS, expire
from domain.durations import format_duration
from domain.models import (
    SYSTEM_ACTOR,
    CaseRequest,
    CaseState,
    ClaimGrant,
    ParcelStatus,
    PayoutStatus,
    Principal,
    WaitingOn,
)
from domain.money import refund_total, reimbursement_total
from domain.policy import Policy
from domain.rules import ACTION_TABLE
from domain.step import Step, payout_lines, refund_amount

__all__ = ["ACTION_TABLE", "DEADLINES", "MAX_REARMS", "ON_COMMAND", "STATES", "alarms", "decide", "open_case",
           "payout_lines", "refund_amount", "waiting_on"]

S = CaseState


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


def _ring(s: Step, cutoff: datetime) -> None:
    """Fire, in order, every alarm due at ``cutoff``; a deadline ends the round (the state changed)."""
    case = s.case
    for alarm in sorted(alarms(case, s.policy), key=lambda a: a.at):
        if alarm.at > cutoff:
            break
        case.fired.append(alarm.key)
        kind = alarm.key.split(":", 1)[0]
        if kind == "deadline":
            expire(s)
            return
        if kind == "remind":
            if case.deadline is not None and cutoff < case.deadline.at:  # overtaken by its deadline: moot
                _remind(s, alarm)
        elif kind == "dispute_risk":
            case.dispute_risk = True
            s.touch()
            open_for = format_duration(s.policy.deadlines.dispute_risk_after)
            s.record(SYSTEM_ACTOR, "dispute_risk_flagged", {"open_for": open_for})
            s.notify(WaitingOn.MERCHANT, "dispute_risk", supervisor=True, open_for=open_for)
        elif kind == "poll":
            case.last_poll_at = s.now
            assert case.return_carrier and case.return_tracking
            s.effects.append(PollCourier(carrier=case.return_carrier, tracking_number=case.return_tracking))
        elif kind == "followup":
            case.followup_sent = True
            s.record(SYSTEM_ACTOR, "satisfaction_followup_sent", {})
            s.notify(WaitingOn.BUYER, "satisfaction_followup", type=case.type)


def _at_stake(case: Case, deadline: str) -> int:
    """The refund a reminder names: the offer while the buyer weighs one, else what approving pays."""
    if deadline == "buyer_answer_offer" and case.offer is not None:
        return case.offer
    return case.default_approval_amount()


def _remind(s: Step, alarm: Alarm) -> None:
    _, recipient, before, _ = alarm.key.split(":", 3)
    d = s.case.deadline
    assert d is not None
    s.record(SYSTEM_ACTOR, "reminder_sent", {"to": recipient, "deadline": d.kind, "before": before,
                                             "deadline_at": d.at.isoformat()})
    # What runs out, when, what happens then (``on_expiry`` is the outcome's English text, a
    # catalog msgid) and the refund at stake, in minor units: the reader sees it in their money.
    params: dict[str, Any] = {"deadline": d.kind, "deadline_at": d.at.isoformat(), "before": before,
                              "outcome": d.on_expiry, "amount": _at_stake(s.case, d.kind),
                              "currency": s.case.order.currency}
    if recipient == "buyer":
        s.notify(WaitingOn.BUYER, "reminder", **params)
    else:
        s.notify(WaitingOn.MERCHANT, "reminder", supervisor=recipient == "supervisor",
                 shop=recipient == "shop", **params)


# --------------------------------------------------------------------------------------------
# Parcels and payouts


def _parcel(s: Step, event: ParcelScanned) -> None:
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
        s.notify(WaitingOn.MERCHANT if is_return else WaitingOn.BUYER, "parcel_exception", leg=leg,
                 tracking_number=event.tracking_number)
    if is_return and event.status == ParcelStatus.DELIVERED and case.state == S.RETURN_IN_TRANSIT:
        s.enter(S.AWAITING_INSPECTION, s.deadline("merchant_inspection", base=event.occurred_at))
        s.notify(WaitingOn.MERCHANT, "return_delivered")
    else:
        s.touch()


def _paid(s: Step, result: PayoutPaid) -> None:
    case = s.case
    lines = payout_lines(case, s.policy)
    refund, reimbursement = refund_total(lines), reimbursement_total(lines)
    case.paid_lines = lines
    case.payment_id = result.payment_id
    s.record(SYSTEM_ACTOR, "refund_paid", {"payment_id": result.payment_id, "amount": result.amount,
                                           "refund": refund, "reimbursement": reimbursement,
                                           "currency": result.currency,
                                           "idempotency_key": result.paid_under or case.payout_key(case.payout_generation),
                                           "already_paid": result.already_paid})
    s.notify(WaitingOn.BUYER, "refund_paid", amount=result.amount, currency=result.currency)
    s.finish_payout()


def _refused(s: Step, result: PayoutRefused) -> None:
    case = s.case
    case.payout_status = PayoutStatus.FAILED
    case.needs_attention_reason = f"payment refused: {result.reason}"
    s.record(SYSTEM_ACTOR, "payment_failed", {"reason": result.reason,
                                              "idempotency_key": case.payout_key(case.payout_generation)})
    s.enter(S.NEEDS_ATTENTION, "needs_attention_followup")
    s.notify(WaitingOn.MERCHANT, "needs_attention", supervisor=True, shop=False, provider_reason=result.reason)


# --------------------------------------------------------------------------------------------
# The decider


def open_case(request: CaseRequest, grant: ClaimGrant, *, ledger_workflow_id: str, opened_by: Principal,
              opened_at: datetime, now: datetime, policy: Policy) -> tuple[Case, list[Effect]]:
    """A new case waiting on the merchant's decision, and its first notice."""
    s = Step(Case.opened(request, grant, ledger_workflow_id, opened_at), now, policy, DEADLINES)
    s.enter(S.AWAITING_MERCHANT_DECISION, s.deadline("merchant_decision", base=opened_at))
    s.record(opened_by, "opened", {
        "type": request.type, "reason": request.reason, "items": [i.model_dump() for i in request.items],
        "requested_refund": request.requested_refund, "description": request.description,
        "evidence": request.evidence, "policy_version": policy.version, "max_refund": grant.max_refund,
        "currency": request.order.currency}, at=opened_at)
    deadline = s.case.deadline
    assert deadline is not None
    s.notify(WaitingOn.MERCHANT, "case_opened", type=request.type, reason=request.reason,
             order_id=request.order.order_id, deadline_at=deadline.at.isoformat())
    return s.case, s.effects


def decide(case: Case, event: Input, now: datetime, policy: Policy) -> tuple[Case, list[Effect]]:
    """The case after ``event`` at ``now``, and the effects to carry out in order.

    A command is checked first (``domain.checks.check``): a refused one raises ``Refused``.
    """
    if isinstance(event, CaseCommand):
        check(case, event, now, policy)
    s = Step(case, now, policy, DEADLINES)
    if isinstance(event, CaseCommand):
        apply_command(s, event)
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
