"""What each action does to a case (who may take it where: ``domain.rules.ACTION_TABLE``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain import commands as c
from domain.commands import BuyerContext, CaseCommand
from domain.models import CaseState, CaseType, CloseReason, WaitingOn
from domain.rules import resolve
from domain.step import Step

S = CaseState


def _approve(s: Step, cmd: c.ApproveCommand) -> None:
    if s.case.type != CaseType.REFUND_ONLY:
        s.await_return()
        return
    s.case.agreed_refund = cmd.amount if cmd.amount is not None else s.case.default_approval_amount()
    s.enter(S.REFUNDING)


def _reject(s: Step, cmd: c.RejectCommand) -> None:
    s.case.buyer_context = BuyerContext.REFUSAL
    s.enter(S.AWAITING_BUYER_RESPONSE, "buyer_answer_refusal")
    s.notify(WaitingOn.BUYER, "rejected", refusal=cmd.reason)


def _offer(s: Step, cmd: c.OfferPartialRefundCommand) -> None:
    s.case.offer = cmd.amount
    s.case.buyer_context = BuyerContext.OFFER
    s.enter(S.AWAITING_BUYER_RESPONSE, "buyer_answer_offer")
    s.notify(WaitingOn.BUYER, "offer", amount=cmd.amount, currency=s.case.order.currency)


def _require_return(s: Step, cmd: c.RequireReturnCommand) -> None:
    s.case.type = CaseType.RETURN_REFUND
    s.enter(S.AWAITING_RETURN_SHIPMENT, "buyer_return_shipment")
    s.notify(WaitingOn.BUYER, "return_required")


def _accept(s: Step, cmd: c.AcceptOfferCommand) -> None:
    if s.case.buyer_context == BuyerContext.OFFER:
        s.case.agreed_refund = s.case.offer
        s.enter(S.REFUNDING)
    else:  # accepting the refusal
        s.close(CloseReason.REJECTED)


def _accept_return(s: Step, cmd: c.AcceptReturnToBuyerCommand | c.AcceptOfferCommand) -> None:
    s.close(CloseReason.RETURNED_TO_BUYER)


def _decline(s: Step, cmd: c.DeclineOfferCommand) -> None:
    s.case.offer = None
    s.enter(S.AWAITING_MERCHANT_DECISION, "merchant_decision")


def _revise(s: Step, cmd: c.ReviseCommand) -> None:
    if cmd.requested_refund is not None:
        s.case.requested_refund = cmd.requested_refund
    s.enter(S.AWAITING_MERCHANT_DECISION, "merchant_decision")
    s.notify(WaitingOn.MERCHANT, "revised")


def _return_shipped(s: Step, cmd: c.SubmitReturnShipmentCommand) -> None:
    case = s.case
    case.return_carrier, case.return_tracking, case.return_cost = cmd.carrier, cmd.tracking_number, cmd.shipping_cost
    case.return_submitted_at = s.now
    s.enter(S.RETURN_IN_TRANSIT, "merchant_inspection")
    s.notify(WaitingOn.MERCHANT, "return_shipped", carrier=cmd.carrier, tracking_number=cmd.tracking_number)


def _return_received(s: Step, cmd: c.ConfirmReturnReceivedCommand) -> None:
    s.enter(S.AWAITING_INSPECTION, s.case.deadline)


def _inspected(s: Step, cmd: c.RecordInspectionCommand) -> None:
    case = s.case
    if not cmd.passed:
        case.buyer_context = BuyerContext.INSPECTION_FAILED
        s.enter(S.AWAITING_BUYER_RESPONSE, "buyer_answer_inspection")
        s.notify(WaitingOn.BUYER, "inspection_failed", responsibility=cmd.responsibility)
        return
    case.deduction = cmd.deduction or 0
    if case.type == CaseType.RETURN_REFUND:
        s.enter(S.REFUNDING)
    else:
        s.enter(S.AWAITING_MERCHANT_SHIPMENT, "merchant_shipment")


def _shipped(s: Step, cmd: c.ShipItemCommand) -> None:
    s.case.outbound_tracking = cmd.tracking_number
    s.enter(S.AWAITING_BUYER_CONFIRMATION, "buyer_confirm_receipt")
    s.notify(WaitingOn.BUYER, "item_shipped", carrier=cmd.carrier, tracking_number=cmd.tracking_number)


def _arbitrate(s: Step, cmd: c.ArbitrateCommand) -> None:
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


def _extend(s: Step, cmd: c.ExtendDeadlineCommand) -> None:
    d = s.case.deadline
    assert d is not None
    s.case.deadline = d.model_copy(update={"at": d.at + cmd.by})
    s.touch()


def _resume(s: Step, cmd: c.ResumeCommand) -> None:
    s.case.needs_attention_reason = None
    s.case.payout_generation += 1
    s.enter(S.REFUNDING)


ON_COMMAND: dict[str, Callable[[Step, Any], None]] = {
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


def apply_command(s: Step, envelope: CaseCommand) -> None:
    cmd = envelope.command
    detail = cmd.detail()
    if isinstance(cmd, c.ExtendDeadlineCommand) and s.case.deadline is not None:
        detail["new_deadline"] = (s.case.deadline.at + cmd.by).isoformat()
    s.record(envelope.actor, cmd.action, detail)
    s.case.last_automatic = None
    ON_COMMAND[resolve(cmd.action, s.case.facts())](s, cmd)
