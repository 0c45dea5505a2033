"""What goes over the wire to and from the sandbox: request bodies, records, fault settings.

These are the providers' models, not ours: the sandbox does not import the pipeline's domain, so
a change on our side that the providers would not accept shows up as a refusal in the end-to-end
tests instead of being silently followed. Request bodies forbid unknown fields for the same
reason.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------
# Payments


class PayoutLine(_Body):
    """One line of a payout's breakdown; the provider keeps it but does not interpret it."""

    kind: str
    amount: int
    note: str = ""


class PayoutBody(_Body):
    """``POST /payments/payouts``: pay money back on an order's original payment channel."""

    idempotency_key: str = Field(min_length=1, max_length=200)
    case_id: str = Field(min_length=1)
    order_id: str = Field(min_length=1)
    shop_id: str = Field(min_length=1)
    buyer_id: str = Field(min_length=1)
    currency: str = Field(min_length=1, max_length=8)
    refund: int = Field(ge=0)
    reimbursement: int = Field(ge=0)
    lines: list[PayoutLine] = Field(default_factory=list)


class Payout(BaseModel):
    """A ledger entry. ``amount`` is ``refund + reimbursement`` in minor units."""

    payment_id: str
    idempotency_key: str
    amount: int
    currency: str
    case_id: str
    order_id: str
    shop_id: str
    buyer_id: str
    refund: int
    reimbursement: int
    lines: list[PayoutLine]
    paid_at: str
    #: sha256 of the canonical request body; tells a retry from a different payout under the same key
    request_fingerprint: str

    def public(self) -> dict:
        return self.model_dump(mode="json", exclude={"request_fingerprint"})


class DropMode(StrEnum):
    """How a payout recorded under ``drop_after_record_rate`` loses its answer."""

    ERROR = "error"  # answer 500
    DISCONNECT = "disconnect"  # start the response, then close the connection mid-body


class PaymentFaults(BaseModel):
    """Faults the payment provider injects into ``POST /payments/payouts``.

    Rates are shares of calls in [0, 1]; 0 never, 1 always, anything between is drawn from a
    ``random.Random(seed)``, so a run with the same settings and calls gets the same faults.
    """

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    fail_rate: float = Field(default=0.0, ge=0, le=1, description="answer fail_status before recording")
    fail_status: int = Field(default=500, ge=400, le=599)
    slow_rate: float = Field(default=0.0, ge=0, le=1, description="record, then sleep slow_seconds before answering")
    slow_seconds: float = Field(default=0.0, ge=0, le=600)
    drop_after_record_rate: float = Field(default=0.0, ge=0, le=1, description="record, then lose the answer")
    drop_mode: DropMode = DropMode.ERROR
    refuse_case_ids: list[str] = Field(default_factory=list, description="payouts for these cases get a 422")
    refuse_accounts: list[str] = Field(default_factory=list, description="payouts to these buyer ids get a 422")


class PaymentFaultsPatch(BaseModel):
    """``POST /payments/faults``: the fields given replace the current ones; a new seed reseeds."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = None
    fail_rate: float | None = Field(default=None, ge=0, le=1)
    fail_status: int | None = Field(default=None, ge=400, le=599)
    slow_rate: float | None = Field(default=None, ge=0, le=1)
    slow_seconds: float | None = Field(default=None, ge=0, le=600)
    drop_after_record_rate: float | None = Field(default=None, ge=0, le=1)
    drop_mode: DropMode | None = None
    refuse_case_ids: list[str] | None = None
    refuse_accounts: list[str] | None = None


class PaymentCounters(BaseModel):
    """What the payment provider saw since start-up or the last reset."""

    calls: int = 0  # POST /payouts
    lookups: int = 0  # GET /payouts/{key}
    recorded: int = 0
    replayed: int = 0
    conflicts: int = 0
    refused: int = 0
    failures_injected: int = 0
    slow_injected: int = 0
    drops_injected: int = 0


# --------------------------------------------------------------------------------------------
# Notifications


class MessageBody(_Body):
    """``POST /notify/messages``: one notice to one party of a case, worded in ``locale``
    (``title`` and ``message``, the body), with the ``kind`` and ``params`` it was worded from."""

    dedupe_key: str = Field(min_length=1, max_length=300)
    case_id: str
    shop_id: str
    recipient_role: str
    recipient_id: str
    kind: str
    params: dict[str, str | int | None] = Field(default_factory=dict, description="what the kind is worded from")
    locale: str | None = Field(default=None, description="the language of title and message: zh-CN or en")
    title: str | None = None
    message: str = Field(description="the notice's text")


class Message(MessageBody):
    message_id: str
    received_at: str


# --------------------------------------------------------------------------------------------
# Courier

ParcelStatus = Literal["picked_up", "in_transit", "delivered", "exception"]

#: Where ``advance`` without an explicit status moves a parcel; delivered and exception are final.
NEXT_STATUS: dict[str, ParcelStatus] = {"picked_up": "in_transit", "in_transit": "delivered"}


class ParcelBody(_Body):
    """``POST /courier/parcels``: the courier picked up a parcel (or it is already further along)."""

    carrier: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(min_length=1, max_length=64)
    status: ParcelStatus = "picked_up"
    occurred_at: AwareDatetime | None = None


class AdvanceBody(_Body):
    """``POST /courier/parcels/{carrier}/{tracking_number}/advance``; empty means the next step."""

    status: ParcelStatus | None = None
    occurred_at: AwareDatetime | None = None


class Parcel(BaseModel):
    """A parcel's latest scan; also the JSON pushed to the webhook (the courier event)."""

    carrier: str
    tracking_number: str
    status: ParcelStatus
    occurred_at: str  # RFC 3339 with offset


class WebhookDelivery(BaseModel):
    """One push of a parcel event to the webhook, for tests and for operators to inspect."""

    event: Parcel
    url: str
    attempts: int
    status_code: int | None = None
    error: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
