"""One step of a case: the verbs the lifecycle's rules are written in.

A ``Step`` holds a copy of the case being changed and the effects asked for so far; the rules
(``domain.deadlines``, ``domain.actions``, ``domain.lifecycle``) change the case only through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain import money
from domain.casefile import Case, Deadline, Effect, Notify, Pay, Settle
from domain.durations import format_duration
from domain.models import (
    SYSTEM_ACTOR,
    BreakdownLine,
    CaseState,
    CloseReason,
    LineKind,
    PayoutStatus,
    Principal,
    Role,
    TimelineActor,
    TimelineEntry,
    WaitingOn,
)
from domain.policy import Deadlines, Policy

S = CaseState


class Described(Protocol):
    @property
    def en(self) -> str: ...


class DeadlineTerms(Protocol):
    """What a step needs to know of a deadline to set it (``domain.deadlines.DeadlineRule``)."""

    @property
    def owner(self) -> WaitingOn: ...
    @property
    def window(self) -> Callable[[Case, Deadlines], timedelta]: ...
    @property
    def outcome(self) -> Callable[[Case], Described]: ...


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


class Step:
    """One step of a case: the case being changed, the effects so far, and the verbs of the rules
    (record, notify, enter a state with its deadline, pay, end, close...)."""

    def __init__(self, case: Case, now: datetime, policy: Policy, deadlines: Mapping[str, DeadlineTerms]) -> None:
        self.deadlines = deadlines
        self.case = case.model_copy(update={"timeline": list(case.timeline), "fired": list(case.fired),
                                            "seen_parcel_events": list(case.seen_parcel_events)})
        self.now = now
        self.policy = policy
        self.effects: list[Effect] = []

    def record(self, actor: Principal, action: str, detail: dict[str, Any], at: datetime | None = None) -> None:
        self.case.timeline.append(TimelineEntry(at=at or self.now, actor=TimelineActor(role=actor.role, id=actor.id),
                                                action=action, detail=detail))

    def notify(self, party: WaitingOn, kind: str, *, supervisor: bool = False, shop: bool = True,
               **params: str | int | None) -> None:
        """Tell ``party`` a notice ``kind`` with its ``params`` (codes, ids, minor units, ISO times,
        policy durations such as ``"1d"``): the words are the reader's, in their language, made by
        the notice activity (``notices.render``), not here."""
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
            key = f"{case.order.shop_id}:{case.case_id}:{len(case.timeline)}:{kind}:{role}"  # per shop, as payout keys
            self.effects.append(Notify(role=role, recipient_id=recipient, kind=kind,
                                       dedupe_key=key, params={"case_id": case.case_id, **params}))

    def touch(self) -> None:
        self.case.version += 1
        self.case.updated_at = self.now

    def deadline(self, kind: str, base: datetime | None = None) -> Deadline:
        rule = self.deadlines[kind]
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
        self.notify(WaitingOn.BUYER, "closed", close_reason=reason)

    def complete(self) -> None:
        if money.reimbursement_total(payout_lines(self.case, self.policy)) > 0:
            self.enter(S.REFUNDING)
        else:
            self.end(S.COMPLETED, None)

    def await_return(self) -> None:
        window = self.policy.deadlines.buyer_return_shipment
        self.enter(S.AWAITING_RETURN_SHIPMENT, "buyer_return_shipment")
        self.notify(WaitingOn.BUYER, "return_approved", within=format_duration(window))

    def escalate(self) -> None:
        self.enter(S.IN_ARBITRATION, "platform_decision")
        self.notify(WaitingOn.PLATFORM, "escalated")

    def refund_now(self, action: str, **detail: Any) -> None:
        self.record(SYSTEM_ACTOR, action, {"refund": refund_amount(self.case, self.policy), **detail})
        self.enter(S.REFUNDING)


