"""Who may do what, in which state: the command catalogue of a case.

Each action has one payload model (all may also carry ``note`` and ``evidence``). The table
below is the single source for validators, the case view's ``next_actions`` and the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, ValidationError

from domain.models import MAX_AMOUNT, CaseState, CaseType, Principal, Responsibility, Role, Strict
from domain.policy import Duration


class BuyerContext(StrEnum):
    """Why a case in ``awaiting_buyer_response`` waits on the buyer."""

    REFUSAL = "refusal"
    OFFER = "offer"
    INSPECTION_FAILED = "inspection_failed"


# --------------------------------------------------------------------------------------------
# Payloads


class Payload(Strict):
    note: str | None = Field(default=None, max_length=2000)
    evidence: list[str] = Field(default_factory=list, max_length=20)


class ApprovePayload(Payload):
    amount: StrictInt | None = Field(default=None, ge=0, le=MAX_AMOUNT, description="refund-only: defaults to the computed refund")


class RejectPayload(Payload):
    reason: str = Field(min_length=1, max_length=500)


class OfferPartialRefundPayload(Payload):
    amount: StrictInt = Field(ge=1, le=MAX_AMOUNT)


class RevisePayload(Payload):
    requested_refund: StrictInt | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    description: str | None = Field(default=None, max_length=4000)


#: Carriers and tracking numbers: what couriers use, and safe in URLs and visibility queries.
PARCEL_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class SubmitReturnShipmentPayload(Payload):
    carrier: str = Field(pattern=PARCEL_ID, description="letters, digits, '_', '.', '-'")
    tracking_number: str = Field(pattern=PARCEL_ID, description="letters, digits, '_', '.', '-'")
    shipping_cost: StrictInt | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class RecordInspectionPayload(Payload):
    passed: StrictBool
    responsibility: Responsibility
    deduction: StrictInt | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class ShipItemPayload(Payload):
    carrier: str = Field(pattern=PARCEL_ID, description="letters, digits, '_', '.', '-'")
    tracking_number: str = Field(pattern=PARCEL_ID, description="letters, digits, '_', '.', '-'")


class ArbitratePayload(Payload):
    outcome: Literal["refund_full", "refund_partial", "deny"]
    amount: StrictInt | None = Field(default=None, ge=1, le=MAX_AMOUNT)


class ExtendDeadlinePayload(Payload):
    by: Duration
    reason: str = Field(min_length=1, max_length=500)


class AddNotePayload(Payload):
    note: str = Field(min_length=1, max_length=2000)


PAYLOADS: dict[str, type[Payload]] = {
    "approve": ApprovePayload,
    "reject": RejectPayload,
    "offer_partial_refund": OfferPartialRefundPayload,
    "require_return": Payload,
    "accept_offer": Payload,
    "decline_offer": Payload,
    "revise": RevisePayload,
    "submit_return_shipment": SubmitReturnShipmentPayload,
    "confirm_return_received": Payload,
    "record_inspection": RecordInspectionPayload,
    "ship_item": ShipItemPayload,
    "confirm_receipt": Payload,
    "cancel": Payload,
    "escalate": Payload,
    "arbitrate": ArbitratePayload,
    "extend_deadline": ExtendDeadlinePayload,
    "add_note": AddNotePayload,
    "resume": Payload,
}
ACTIONS = tuple(PAYLOADS)


class CaseCommand(Strict):
    """What every command update carries: who acts, on which version, and the payload."""

    actor: Principal
    expected_version: StrictInt | None = Field(default=None, ge=0)
    payload: dict[str, Any] = Field(default_factory=dict)


class BadPayload(ValueError):
    """A payload that does not fit its action; ``errors`` name each field and why."""

    def __init__(self, action: str, errors: list[dict[str, Any]]) -> None:
        self.action = action
        self.errors = errors
        text = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"bad payload for {action}: {text}")


def parse_payload(action: str, payload: dict[str, Any]) -> Payload:
    """Validate a payload for ``action``; raise :class:`BadPayload` naming every bad field."""
    model = PAYLOADS.get(action)
    if model is None:
        raise BadPayload(action, [{"field": "action", "message": f"unknown action; known: {', '.join(ACTIONS)}"}])
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "payload", "message": e["msg"]}
            for e in err.errors(include_url=False)
        ]
        raise BadPayload(action, errors) from None


# --------------------------------------------------------------------------------------------
# Who may do what, where

MERCHANT = frozenset({Role.STAFF, Role.SUPERVISOR})
BUYER = frozenset({Role.BUYER})
PLATFORM = frozenset({Role.PLATFORM})
NOTE_TAKERS = frozenset({Role.BUYER, Role.STAFF, Role.SUPERVISOR, Role.PLATFORM})
EXTENDERS = MERCHANT | PLATFORM


@dataclass(frozen=True)
class CaseFacts:
    """The few facts about a case that decide which actions exist now."""

    state: CaseState
    type: CaseType
    order_shipped: bool
    buyer_context: BuyerContext | None = None
    has_deadline: bool = True
    merchant_owns_deadline: bool = False


def actions_in(facts: CaseFacts) -> dict[str, frozenset[Role]]:
    """Every action possible in this situation, with the roles that may take it."""
    s = facts.state
    table: dict[str, frozenset[Role]] = {}
    if s == CaseState.AWAITING_MERCHANT_DECISION:
        table = {"approve": MERCHANT, "reject": MERCHANT, "cancel": BUYER}
        if facts.type in (CaseType.REFUND_ONLY, CaseType.RETURN_REFUND):
            table["offer_partial_refund"] = MERCHANT
        if facts.type == CaseType.REFUND_ONLY and facts.order_shipped:
            table["require_return"] = MERCHANT
    elif s == CaseState.AWAITING_BUYER_RESPONSE:
        table = {"accept_offer": BUYER, "cancel": BUYER}
        if facts.buyer_context == BuyerContext.OFFER:
            table["decline_offer"] = BUYER
        if facts.buyer_context == BuyerContext.REFUSAL:
            table["revise"] = BUYER
        if facts.buyer_context in (BuyerContext.REFUSAL, BuyerContext.INSPECTION_FAILED):
            table["escalate"] = BUYER
    elif s == CaseState.AWAITING_RETURN_SHIPMENT:
        table = {"submit_return_shipment": BUYER, "cancel": BUYER}
    elif s == CaseState.RETURN_IN_TRANSIT:
        table = {"confirm_return_received": MERCHANT, "record_inspection": MERCHANT}
    elif s == CaseState.AWAITING_INSPECTION:
        table = {"record_inspection": MERCHANT}
    elif s == CaseState.AWAITING_MERCHANT_SHIPMENT:
        table = {"ship_item": MERCHANT}
    elif s == CaseState.AWAITING_BUYER_CONFIRMATION:
        table = {"confirm_receipt": BUYER, "escalate": BUYER}
    elif s == CaseState.IN_ARBITRATION:
        table = {"arbitrate": PLATFORM, "cancel": BUYER}
    elif s == CaseState.NEEDS_ATTENTION:
        table = {"resume": frozenset({Role.SUPERVISOR})}
    if facts.has_deadline and not s.terminal and s not in (CaseState.REFUNDING, CaseState.NEEDS_ATTENTION):
        # The merchant may give the buyer or the courier more time, never itself.
        table["extend_deadline"] = PLATFORM if facts.merchant_owns_deadline else EXTENDERS
    table["add_note"] = NOTE_TAKERS
    return table


def next_actions(facts: CaseFacts, role: Role | None = None) -> list[str]:
    """Actions possible now; for one role when given."""
    return [a for a, roles in actions_in(facts).items() if role is None or role in roles]


def can_access(principal: Principal, *, shop_id: str, buyer_id: str) -> bool:
    """Nobody acts on another shop's case or another buyer's case."""
    if principal.role in (Role.PLATFORM, Role.OPERATOR, Role.SYSTEM):
        return True
    if principal.role == Role.BUYER:
        return principal.id == buyer_id
    return principal.shop_id == shop_id
