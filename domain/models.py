"""The case's data: what integrators send, what the workflow keeps, what everyone reads.

Field names follow ``shared/API.md``. Amounts are integers in minor units (fen) of the order's
currency; there are no floats anywhere.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

#: What shop, order and case ids may contain. It leaves out ``:``, which joins them into
#: workflow ids and case references (``workflows/ids.py``), so those read back one way only.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ID_CHARACTERS = "1-64 characters: letters A-Z a-z, digits, _ and -"

#: No amount in after-sales comes near this (10 billion in major units); it keeps arithmetic and
#: JSON integers well inside 64 bits.
MAX_AMOUNT = 10**12


class Strict(BaseModel):
    """Base for every model: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Role(StrEnum):
    SYSTEM = "system"
    BUYER = "buyer"
    STAFF = "staff"
    SUPERVISOR = "supervisor"
    PLATFORM = "platform"
    OPERATOR = "operator"


class CaseType(StrEnum):
    REFUND_ONLY = "refund_only"
    RETURN_REFUND = "return_refund"
    EXCHANGE = "exchange"
    REPAIR = "repair"


class Reason(StrEnum):
    QUALITY_ISSUE = "quality_issue"
    NOT_AS_DESCRIBED = "not_as_described"
    WRONG_ITEM = "wrong_item"
    MISSING_ITEM = "missing_item"
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    NOT_RECEIVED = "not_received"
    OUT_OF_STOCK = "out_of_stock"
    NO_REASON = "no_reason"
    CHANGED_MIND = "changed_mind"
    OTHER = "other"


class GuaranteeKind(StrEnum):
    NO_REASON_RETURN = "no_reason_return"
    EXCHANGE = "exchange"
    WARRANTY = "warranty"


class CaseState(StrEnum):
    AWAITING_MERCHANT_DECISION = "awaiting_merchant_decision"
    AWAITING_BUYER_RESPONSE = "awaiting_buyer_response"
    AWAITING_RETURN_SHIPMENT = "awaiting_return_shipment"
    RETURN_IN_TRANSIT = "return_in_transit"
    AWAITING_INSPECTION = "awaiting_inspection"
    AWAITING_MERCHANT_SHIPMENT = "awaiting_merchant_shipment"
    AWAITING_BUYER_CONFIRMATION = "awaiting_buyer_confirmation"
    IN_ARBITRATION = "in_arbitration"
    REFUNDING = "refunding"
    NEEDS_ATTENTION = "needs_attention"
    REFUNDED = "refunded"
    COMPLETED = "completed"
    CLOSED = "closed"

    @property
    def terminal(self) -> bool:
        return self in (CaseState.REFUNDED, CaseState.COMPLETED, CaseState.CLOSED)


class WaitingOn(StrEnum):
    BUYER = "buyer"
    MERCHANT = "merchant"
    COURIER = "courier"
    PLATFORM = "platform"
    PAYMENT = "payment"


class CloseReason(StrEnum):
    CANCELLED_BY_BUYER = "cancelled_by_buyer"
    BUYER_TIMEOUT = "buyer_timeout"
    REJECTED = "rejected"
    ARBITRATION_DENIED = "arbitration_denied"
    RETURNED_TO_BUYER = "returned_to_buyer"
    SHIPPED_BEFORE_REFUND = "shipped_before_refund"


class Responsibility(StrEnum):
    PRODUCT_DEFECT = "product_defect"
    BUYER_MISUSE = "buyer_misuse"
    TRANSIT_DAMAGE = "transit_damage"
    NO_FAULT = "no_fault"


class ParcelStatus(StrEnum):
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    EXCEPTION = "exception"


# --------------------------------------------------------------------------------------------
# Who acts


class Principal(Strict):
    """An authenticated actor. ``shop_id`` is set for staff and supervisors."""

    role: Role
    id: str = Field(min_length=1, max_length=128)
    shop_id: str | None = Field(default=None, pattern=ID_PATTERN)


SYSTEM_ACTOR = Principal(role=Role.SYSTEM, id="aftersales")


# --------------------------------------------------------------------------------------------
# Opening a case


class OrderItem(Strict):
    sku: str = Field(min_length=1, max_length=64)
    title: str = Field(default="", max_length=256)
    quantity: StrictInt = Field(ge=1, le=100_000)
    unit_price: StrictInt = Field(ge=0, le=MAX_AMOUNT, description="what the buyer paid per unit, minor units")


class Guarantee(Strict):
    kind: GuaranteeKind
    days: StrictInt = Field(ge=1, le=3650)


class Order(Strict):
    order_id: str = Field(pattern=ID_PATTERN, description=ID_CHARACTERS)
    shop_id: str = Field(pattern=ID_PATTERN, description=ID_CHARACTERS)
    buyer_id: str = Field(min_length=1, max_length=64)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY")
    paid_total: StrictInt = Field(ge=0, le=MAX_AMOUNT, description="what the buyer paid in all, minor units")
    shipping_fee: StrictInt = Field(ge=0, le=MAX_AMOUNT, description="the original shipping fee the buyer paid")
    free_shipping: StrictBool
    shipped_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    items: list[OrderItem] = Field(min_length=1, max_length=200)
    guarantees: list[Guarantee] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _consistent(self) -> Order:
        skus = [i.sku for i in self.items]
        if len(set(skus)) != len(skus):
            raise ValueError("order.items: each sku may appear once")
        if self.free_shipping and self.shipping_fee != 0:
            raise ValueError("order.shipping_fee must be 0 when order.free_shipping is true")
        if self.delivered_at is not None and self.shipped_at is None:
            raise ValueError("order.delivered_at needs order.shipped_at")
        if self.delivered_at and self.shipped_at and self.delivered_at < self.shipped_at:
            raise ValueError("order.delivered_at is before order.shipped_at")
        goods = sum(i.quantity * i.unit_price for i in self.items)
        if self.paid_total > goods + self.shipping_fee:
            raise ValueError(
                f"order.paid_total {self.paid_total} exceeds items ({goods}) plus shipping_fee ({self.shipping_fee})"
            )
        return self

    def item(self, sku: str) -> OrderItem | None:
        return next((i for i in self.items if i.sku == sku), None)

    def guarantee(self, kind: GuaranteeKind) -> Guarantee | None:
        return next((g for g in self.guarantees if g.kind == kind), None)


class ClaimItem(Strict):
    sku: str = Field(min_length=1, max_length=64)
    quantity: StrictInt = Field(ge=1, le=100_000)


class CaseRequest(Strict):
    """What a backend system sends to open a case (``POST /v1/cases``)."""

    case_id: str = Field(pattern=ID_PATTERN, description=f"the shop's own id for the case; {ID_CHARACTERS}")
    type: CaseType
    reason: Reason
    order: Order
    items: list[ClaimItem] = Field(min_length=1, max_length=200)
    requested_refund: StrictInt | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    description: str | None = Field(default=None, max_length=4000)
    evidence: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _unique_skus(self) -> CaseRequest:
        skus = [i.sku for i in self.items]
        if len(set(skus)) != len(skus):
            raise ValueError("items: each sku may appear once")
        return self

    def fingerprint(self) -> str:
        """A stable text of the request, to tell an identical retry from a different body."""
        return self.model_dump_json()


# --------------------------------------------------------------------------------------------
# Money


class LineKind(StrEnum):
    ITEMS = "items"
    ORIGINAL_SHIPPING = "original_shipping"
    DEDUCTION = "deduction"
    AGREED_ADJUSTMENT = "agreed_adjustment"
    RETURN_SHIPPING = "return_shipping"
    OUT_OF_STOCK_COMPENSATION = "out_of_stock_compensation"


#: Lines that give back what the buyer paid; they count against the order's paid total.
REFUND_LINES = frozenset(
    {LineKind.ITEMS, LineKind.ORIGINAL_SHIPPING, LineKind.DEDUCTION, LineKind.AGREED_ADJUSTMENT}
)


class BreakdownLine(Strict):
    kind: LineKind
    amount: StrictInt = Field(description="signed minor units; deductions are negative")
    note: str = ""


class PayoutStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


class RefundView(Strict):
    amount: StrictInt = Field(description="refund plus reimbursements and compensation, minor units")
    refund: StrictInt = Field(description="the part that gives back what was paid (capped by the order)")
    reimbursement: StrictInt = Field(description="return shipping and compensation, counted apart")
    currency: str
    status: PayoutStatus
    breakdown: list[BreakdownLine]
    payment_id: str | None = None


class ClaimGrant(Strict):
    """What the order ledger reserved for a case when it opened.

    The ledger is the one place that sees every case of an order, so it decides whether this
    case carries the original shipping fee and how much of the paid total it may refund at most.
    """

    items_value: StrictInt = Field(ge=0)
    includes_original_shipping: bool
    original_shipping: StrictInt = Field(ge=0)
    max_refund: StrictInt = Field(ge=0, description="ceiling of the refund lines for this case")
    covers_rest_of_order: bool


# --------------------------------------------------------------------------------------------
# Reading a case


class TimelineActor(Strict):
    role: Role
    id: str


class TimelineEntry(Strict):
    at: datetime
    actor: TimelineActor
    action: str
    detail: dict[str, Any] = Field(default_factory=dict)


class DeadlineView(Strict):
    kind: str
    at: datetime
    on_expiry: str


class CaseView(Strict):
    """The case as every allowed reader sees it (``GET /v1/cases/{case_id}``)."""

    case_id: str
    type: CaseType
    reason: Reason
    order_id: str
    shop_id: str
    buyer_id: str
    state: CaseState
    waiting_on: WaitingOn | None
    deadline: datetime | None
    deadline_detail: DeadlineView | None = Field(default=None, description="which deadline and what happens then")
    close_reason: CloseReason | None
    dispute_risk: bool
    refund: RefundView
    policy_version: str
    version: int
    created_at: datetime
    updated_at: datetime
    buyer_context: str | None = Field(default=None, description="refusal, offer or inspection_failed")
    offer: StrictInt | None = Field(default=None, description="the partial refund on offer, minor units")
    return_tracking: str | None = None
    outbound_tracking: str | None = None
    needs_attention_reason: str | None = None
    order: Order | None = Field(default=None, description="the order as the shop sent it: items, prices, shipping")
    timeline: list[TimelineEntry]
    next_actions: list[str]
    actions_by_role: dict[str, list[str]] = Field(default_factory=dict)
