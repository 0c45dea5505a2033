"""A case's data, what happens to it (inputs) and what the decider asks for (effects).

``Case`` is everything a case workflow keeps, as one model; ``domain.lifecycle.decide`` takes a
case and one input and returns the new case and its effects, which the workflow carries out in
order. Nothing here knows about Temporal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import Field

from domain import money
from domain.commands import BuyerContext, CaseCommand
from domain.models import (
    BreakdownLine,
    CaseRequest,
    CaseState,
    CaseType,
    ClaimGrant,
    CloseReason,
    Order,
    ParcelStatus,
    PayoutStatus,
    Reason,
    Role,
    Strict,
    TimelineEntry,
    WaitingOn,
)
from domain.rules import CaseFacts


class Deadline(Strict):
    kind: str
    at: datetime
    owner: WaitingOn = Field(description="whose deadline it is: who gets the reminders")
    on_expiry: str
    set_at: datetime
    repeats: int = Field(0, description="how often it was re-armed after passing (deadlines without an outcome)")


class Case(Strict):
    """Everything a case knows. Amounts in minor units of ``order.currency``."""

    case_id: str
    type: CaseType
    reason: Reason
    order: Order
    grant: ClaimGrant
    ledger_workflow_id: str
    state: CaseState = CaseState.AWAITING_MERCHANT_DECISION
    created_at: datetime
    updated_at: datetime
    version: int = 0
    deadline: Deadline | None = None
    buyer_context: BuyerContext | None = None
    close_reason: CloseReason | None = None
    dispute_risk: bool = False
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # money
    requested_refund: int | None = None
    agreed_refund: int | None = None
    offer: int | None = None
    deduction: int = 0
    compensation: int = 0
    converted_to_refund: bool = False
    # parcels
    return_carrier: str | None = None
    return_tracking: str | None = None
    return_cost: int | None = None
    return_submitted_at: datetime | None = None
    outbound_tracking: str | None = None
    last_poll_at: datetime | None = None
    seen_parcel_events: list[str] = Field(default_factory=list, description="leg:status, at most 8")
    # payout
    payout_generation: int = 0
    payout_status: PayoutStatus = PayoutStatus.NONE
    payment_id: str | None = None
    paid_lines: list[BreakdownLine] | None = None
    # what happened
    needs_attention_reason: str | None = None
    last_automatic: str | None = None
    ended_at: datetime | None = None
    followup_sent: bool = False
    fired: list[str] = Field(default_factory=list, description="alarms of the current deadline already fired")

    @classmethod
    def opened(cls, request: CaseRequest, grant: ClaimGrant, ledger_workflow_id: str, at: datetime) -> Case:
        return cls(case_id=request.case_id, type=request.type, reason=request.reason, order=request.order,
                   grant=grant, ledger_workflow_id=ledger_workflow_id, created_at=at, updated_at=at,
                   requested_refund=request.requested_refund)

    def payout_key(self, generation: int) -> str:
        """The idempotency key of a payout (a resumed payout is the next generation). It names the
        shop: case ids are the shop's own, and the provider pays once per key, so two shops'
        case ``c-1`` must not share one."""
        return f"aftersales:{self.order.shop_id}:{self.case_id}:payout:{generation}"

    def facts(self) -> CaseFacts:
        """What decides which actions exist now (``domain.rules``)."""
        d = self.deadline
        return CaseFacts(state=self.state, type=self.type, order_shipped=self.order.shipped_at is not None,
                         buyer_context=self.buyer_context, has_deadline=d is not None,
                         merchant_owns_deadline=d is not None and d.owner == WaitingOn.MERCHANT)

    def default_approval_amount(self) -> int:
        """An approval without an amount: the computed refund, or less if the buyer asked for less."""
        computed = money.computed_refund(self.grant)
        return computed if self.requested_refund is None else min(self.requested_refund, computed)

    @property
    def keeps_replacement(self) -> bool:
        """An exchange or repair the buyer keeps: only reimbursements are paid."""
        return self.type in (CaseType.EXCHANGE, CaseType.REPAIR) and not self.converted_to_refund


# --------------------------------------------------------------------------------------------
# Inputs: what happens to a case (besides commands, ``CaseCommand``)


@dataclass(frozen=True)
class AlarmRang:
    """The timer of the earliest alarm fired: every alarm due at ``at`` fires, in order."""

    at: datetime


@dataclass(frozen=True)
class ParcelScanned:
    carrier: str
    tracking_number: str
    status: ParcelStatus
    occurred_at: datetime
    source: str = "courier_event"


@dataclass(frozen=True)
class PayoutPaid:
    payment_id: str
    amount: int
    currency: str
    paid_under: str | None
    already_paid: bool


@dataclass(frozen=True)
class PayoutRefused:
    reason: str


Input = CaseCommand | AlarmRang | ParcelScanned | PayoutPaid | PayoutRefused


# --------------------------------------------------------------------------------------------
# Effects: what the workflow carries out, in order


@dataclass(frozen=True)
class Notify:
    """Tell one recipient: a notice ``kind`` with its ``params`` (``notices`` words it in the
    recipient's language; ``notices.KINDS`` lists every kind)."""

    role: Role
    recipient_id: str
    kind: str
    dedupe_key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pay:
    """Pay these lines once, under ``idempotency_key`` (after a resume, ``earlier_keys`` first)."""

    idempotency_key: str
    earlier_keys: list[str]
    refund: int
    reimbursement: int
    lines: list[BreakdownLine]


@dataclass(frozen=True)
class PollCourier:
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class Settle:
    """Tell the order ledger what the ended case refunded."""

    refunded: int
    shipping_refunded: bool
    keeps_items: bool


Effect = Notify | Pay | PollCourier | Settle


@dataclass(frozen=True)
class Alarm:
    at: datetime
    key: str
    label: str


class Refused(Exception):
    """A command the case does not take; ``kind`` is one of ``domain.errors``."""

    def __init__(self, kind: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details
