"""The commands of a case: one model per action, one discriminated union of them, defined once.

The HTTP API validates a body into one of these (``parse_command``) and passes the model on; the
workflow receives it inside a :class:`CaseCommand` and the decider acts on it. Every command may
carry ``note``, ``evidence`` and ``expected_version``. What each action does and who may take it
is in ``domain.rules.ACTIONS``.
"""

from __future__ import annotations

import typing
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, TypeAdapter, ValidationError

from domain.models import MAX_AMOUNT, Principal, Responsibility, Strict
from domain.policy import Duration


class BuyerContext(StrEnum):
    """Why a case in ``awaiting_buyer_response`` waits on the buyer."""

    REFUSAL = "refusal"
    OFFER = "offer"
    INSPECTION_FAILED = "inspection_failed"


class Command(Strict):
    """What every command may carry besides its own fields."""

    note: str | None = Field(default=None, max_length=2000)
    evidence: list[str] = Field(default_factory=list, max_length=20)
    expected_version: StrictInt | None = Field(
        default=None, ge=0, description="the case view's version you decided on; a mismatch is a 409"
    )

    def detail(self) -> dict[str, Any]:
        """What the timeline records of it: the fields given, without the envelope."""
        data = self.model_dump(mode="json", exclude={"action", "expected_version"})
        return {k: v for k, v in data.items() if v not in (None, [], "")}


def _action(name: str) -> Any:
    return Field(default=name, description="the action (the URL names it; may be left out of a body)")


class ApproveCommand(Command):
    """Staff/supervisor: approve the request (refund-only: optional amount; returns: the buyer ships back)."""

    action: Literal["approve"] = _action("approve")
    amount: StrictInt | None = Field(default=None, ge=0, le=MAX_AMOUNT, description="refund-only: defaults to the computed refund")


class RejectCommand(Command):
    """Staff/supervisor: refuse the request (reason required)."""

    action: Literal["reject"] = _action("reject")
    reason: str = Field(min_length=1, max_length=500)


class OfferPartialRefundCommand(Command):
    """Staff/supervisor: offer a partial refund if the buyer keeps the item."""

    action: Literal["offer_partial_refund"] = _action("offer_partial_refund")
    amount: StrictInt = Field(ge=1, le=MAX_AMOUNT)


class RequireReturnCommand(Command):
    """Staff/supervisor: turn a refund-only request on a shipped order into a return."""

    action: Literal["require_return"] = _action("require_return")


class AcceptOfferCommand(Command):
    """Buyer: accept the partial-refund offer (or the refusal)."""

    action: Literal["accept_offer"] = _action("accept_offer")


class AcceptReturnToBuyerCommand(Command):
    """Buyer: accept the failed inspection; the item is sent back (returned_to_buyer)."""

    action: Literal["accept_return_to_buyer"] = _action("accept_return_to_buyer")


class DeclineOfferCommand(Command):
    """Buyer: decline a partial-refund offer (back to the merchant)."""

    action: Literal["decline_offer"] = _action("decline_offer")


class ReviseCommand(Command):
    """Buyer: revise a refused request."""

    action: Literal["revise"] = _action("revise")
    requested_refund: StrictInt | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    description: str | None = Field(default=None, max_length=4000)


#: Carriers and tracking numbers: what couriers use, and safe in URLs and visibility queries.
PARCEL_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class SubmitReturnShipmentCommand(Command):
    """Buyer: the return parcel's carrier and tracking number."""

    action: Literal["submit_return_shipment"] = _action("submit_return_shipment")
    carrier: str = Field(pattern=PARCEL_ID, description="letters, digits, '_', '.', '-'")
    tracking_number: str = Field(pattern=PARCEL_ID, description="letters, digits, '_', '.', '-'")
    shipping_cost: StrictInt | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class ConfirmReturnReceivedCommand(Command):
    """Staff/supervisor: the returned parcel arrived."""

    action: Literal["confirm_return_received"] = _action("confirm_return_received")


class RecordInspectionCommand(Command):
    """Staff/supervisor: the inspection's result and who is responsible."""

    action: Literal["record_inspection"] = _action("record_inspection")
    passed: StrictBool
    responsibility: Responsibility
    deduction: StrictInt | None = Field(default=None, ge=0, le=MAX_AMOUNT)


class ShipItemCommand(Command):
    """Staff/supervisor: ship the replacement or repaired item."""

    action: Literal["ship_item"] = _action("ship_item")
    carrier: str = Field(pattern=PARCEL_ID, description="letters, digits, '_', '.', '-'")
    tracking_number: str = Field(pattern=PARCEL_ID, description="letters, digits, '_', '.', '-'")


class ConfirmReceiptCommand(Command):
    """Buyer: the replacement or repaired item arrived."""

    action: Literal["confirm_receipt"] = _action("confirm_receipt")


class CancelCommand(Command):
    """Buyer: withdraw the request."""

    action: Literal["cancel"] = _action("cancel")


class EscalateCommand(Command):
    """Buyer: ask the platform to decide."""

    action: Literal["escalate"] = _action("escalate")


class ArbitrateCommand(Command):
    """Platform: decide an escalated case."""

    action: Literal["arbitrate"] = _action("arbitrate")
    outcome: Literal["refund_full", "refund_partial", "deny"]
    amount: StrictInt | None = Field(default=None, ge=1, le=MAX_AMOUNT)


class ExtendDeadlineCommand(Command):
    """Staff/supervisor/platform: extend the current deadline (not the merchant's own)."""

    action: Literal["extend_deadline"] = _action("extend_deadline")
    by: Duration
    reason: str = Field(min_length=1, max_length=500)


class AddNoteCommand(Command):
    """Buyer/staff/supervisor/platform: add a note or evidence to the timeline."""

    action: Literal["add_note"] = _action("add_note")
    note: str = Field(min_length=1, max_length=2000)


class ResumeCommand(Command):
    """Supervisor: retry the step that put the case in needs_attention."""

    action: Literal["resume"] = _action("resume")


AnyCommand = Annotated[
    ApproveCommand | RejectCommand | OfferPartialRefundCommand | RequireReturnCommand | AcceptOfferCommand
    | AcceptReturnToBuyerCommand | DeclineOfferCommand | ReviseCommand | SubmitReturnShipmentCommand
    | ConfirmReturnReceivedCommand | RecordInspectionCommand | ShipItemCommand | ConfirmReceiptCommand
    | CancelCommand | EscalateCommand | ArbitrateCommand | ExtendDeadlineCommand | AddNoteCommand | ResumeCommand,
    Field(discriminator="action"),
]
_ANY: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)

#: Each action's command model, by action name (the order of the union).
COMMANDS: dict[str, type[Command]] = {
    model.model_fields["action"].default: model for model in typing.get_args(typing.get_args(AnyCommand)[0])
}


class CaseCommand(Strict):
    """What the case workflow's ``command`` update carries: who acts, and the typed command."""

    actor: Principal
    command: AnyCommand


class BadPayload(ValueError):
    """A body that does not fit its action; ``errors`` name each field and why."""

    def __init__(self, action: str, errors: list[dict[str, Any]]) -> None:
        self.action = action
        self.errors = errors
        text = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"bad payload for {action}: {text}")


def parse_command(action: str, body: Any) -> AnyCommand:
    """Validate ``body`` as the command ``action``; raise :class:`BadPayload` naming every bad field."""
    if action not in COMMANDS:
        raise BadPayload(action, [{"field": "action", "message": f"unknown action; known: {', '.join(COMMANDS)}"}])
    if not isinstance(body, dict):
        raise BadPayload(action, [{"field": "payload", "message": "must be an object"}])
    if body.get("action", action) != action:
        raise BadPayload(action, [{"field": "action", "message": f"the URL names the action: {action}"}])
    try:
        return _ANY.validate_python({**body, "action": action})
    except ValidationError as err:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or "payload", "message": e["msg"]}
            for e in err.errors(include_url=False)
        ]
        raise BadPayload(action, errors) from None
