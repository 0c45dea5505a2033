"""The API's own request and response models; the case models themselves come from ``domain``.

Each action's request body is its domain payload (``domain.rules.PAYLOADS``) plus an optional
``expected_version``, so the OpenAPI schema shows exactly what the engine validates.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, create_model

from domain.models import CaseState, CaseType, ParcelStatus, WaitingOn
from domain.rules import PAYLOADS, Payload

#: One line per action for the docs: who takes it and what it does (``shared/DOMAIN.md``).
ACTION_SUMMARIES: dict[str, str] = {
    "approve": "Staff/supervisor: approve the request (refund-only: optional amount; returns: the buyer ships back)",
    "reject": "Staff/supervisor: refuse the request (reason required)",
    "offer_partial_refund": "Staff/supervisor: offer a partial refund if the buyer keeps the item",
    "require_return": "Staff/supervisor: turn a refund-only request on a shipped order into a return",
    "accept_offer": "Buyer: accept the offer, the refusal or the failed inspection",
    "decline_offer": "Buyer: decline a partial-refund offer (back to the merchant)",
    "revise": "Buyer: revise a refused request",
    "submit_return_shipment": "Buyer: the return parcel's carrier and tracking number",
    "confirm_return_received": "Staff/supervisor: the returned parcel arrived",
    "record_inspection": "Staff/supervisor: the inspection's result and who is responsible",
    "ship_item": "Staff/supervisor: ship the replacement or repaired item",
    "confirm_receipt": "Buyer: the replacement or repaired item arrived",
    "cancel": "Buyer: withdraw the request",
    "escalate": "Buyer: ask the platform to decide",
    "arbitrate": "Platform: decide an escalated case",
    "extend_deadline": "Staff/supervisor/platform: extend the current deadline (not the merchant's own)",
    "add_note": "Buyer/staff/supervisor/platform: add a note or evidence to the timeline",
    "resume": "Supervisor: retry the step that put the case in needs_attention",
}


def _camel(action: str) -> str:
    return "".join(part.capitalize() for part in action.split("_"))


def _command_model(action: str, payload: type[Payload]) -> type[Payload]:
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{_camel(action)}Command",
        __base__=payload,
        __doc__=f"{ACTION_SUMMARIES.get(action, action)}. Any field may be left out unless required.",
        expected_version=(
            StrictInt | None,
            Field(default=None, ge=0, description="the case view's version you decided on; a mismatch is a 409"),
        ),
    )


#: The request body of ``POST /v1/cases/{case_id}/{action}``, per action.
COMMAND_MODELS: dict[str, type[Payload]] = {action: _command_model(action, model) for action, model in PAYLOADS.items()}


class CaseSummary(BaseModel):
    """One row of ``GET /v1/cases``, read from the case's search attributes (may lag the view briefly)."""

    case_id: str
    state: CaseState | None = None
    type: CaseType | None = None
    shop_id: str | None = None
    order_id: str | None = None
    buyer_id: str | None = None
    waiting_on: WaitingOn | None = None
    deadline: datetime | None = Field(default=None, description="the current deadline, if the case has one")
    dispute_risk: bool = False
    opened_at: datetime | None = None
    running: bool = Field(default=True, description="false once the case's workflow has finished (after follow-up)")


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_page_token: str | None = Field(
        default=None, description="pass as page_token to get the next page; null on the last page"
    )


class CourierEvent(BaseModel):
    """A parcel scan pushed by the courier (``POST /v1/courier/events``)."""

    model_config = ConfigDict(extra="ignore")  # couriers add fields; we read what we need

    carrier: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(min_length=1, max_length=64)
    status: ParcelStatus
    occurred_at: AwareDatetime


class CourierAck(BaseModel):
    accepted: bool = True
    matched: int = Field(description="how many open cases the event was delivered to (0: unknown tracking number)")


class Health(BaseModel):
    ok: bool
    temporal: str | None = None
