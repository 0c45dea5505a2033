"""One pydantic model in and one out for each activity. Workflows import these too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from domain.models import BreakdownLine, ParcelStatus, Role, Strict


def _leave_out_empty(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``data`` without the named fields whose value is empty (rollout: see PayoutRequest)."""
    for name, value in fields.items():
        if not value:
            data.pop(name, None)
    return data


class PayoutRequest(Strict):
    """Pay a case's money back through the order's original payment channel."""

    idempotency_key: str = Field(description="made in the workflow; the same key never pays twice")
    case_id: str
    order_id: str
    shop_id: str
    buyer_id: str
    currency: str
    refund: int = Field(ge=0, description="gives back what the buyer paid")
    reimbursement: int = Field(ge=0, description="return shipping and compensation on top")
    lines: list[BreakdownLine]
    earlier_keys: list[str] = Field(
        default_factory=list,
        description="the keys of this case's earlier payouts, each refused: looked up before paying, so a "
        "payout the provider had recorded under one of them by then is taken, not paid again")

    @model_serializer(mode="wrap")
    def _leave_out_no_earlier_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A first payout has none; leaving the field out keeps its input what workers from before
        # the field read, so only payouts after a resume need upgraded workers (README).
        return _leave_out_empty(handler(self), earlier_keys=self.earlier_keys)

    def provider_body(self) -> dict[str, Any]:
        """What the payment provider is sent: everything but our own lookups."""
        return self.model_dump(mode="json", exclude={"earlier_keys"})


class PayoutResult(Strict):
    payment_id: str
    amount: int
    currency: str
    already_paid: bool = Field(description="the provider had this key already (a retry or a crash)")
    paid_under: str | None = Field(
        default=None, description="set when the payment is one the provider recorded under an earlier key of "
        "the case (see PayoutRequest.earlier_keys): that key")

    @model_serializer(mode="wrap")
    def _leave_out_no_earlier_key(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _leave_out_empty(handler(self), paid_under=self.paid_under)


#: A notice parameter: a code, an id, an amount in minor units, an ISO time, a policy duration.
NoticeParam = str | int | None


class Notification(Strict):
    """A notice to one party of a case (reminders, approvals, refusals, automatic actions): its
    ``kind`` and ``params``, as the decider made them. The activity words it in the recipient's
    language (``notices.render``); workflows never build the text."""

    dedupe_key: str = Field(description="made in the workflow; the channel drops repeats")
    case_id: str
    shop_id: str
    recipient_role: Role
    recipient_id: str
    kind: str = Field(description="one of notices.KINDS")
    params: dict[str, NoticeParam] = Field(default_factory=dict)
    message: str | None = Field(
        default=None, description="only from workflow workers older than rendering by kind (a rollout): "
        "their English text, sent as it is when the kind cannot be rendered from params; or a notice "
        "its sender words itself (the weekly report)")
    locale: str | None = Field(default=None, description="the language of `message` when not English")

    @model_serializer(mode="wrap")
    def _leave_out_no_message(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _leave_out_empty(handler(self), message=self.message, locale=self.locale)


class ParcelLookup(Strict):
    carrier: str
    tracking_number: str


class ParcelStatusReport(Strict):
    known: bool
    status: ParcelStatus | None = None
    occurred_at: datetime | None = None
