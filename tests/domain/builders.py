"""Case requests with exact dates and amounts, for the pure domain tests.

``tests/support/factory.py`` builds requests relative to a moving 'now' for the workflow tests;
here every date is fixed so that weekdays and window ends can be read off the calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.models import CaseRequest

#: Wednesday 12 March 2025, 10:00 UTC.
WEDNESDAY = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)

UNIT_PRICE = 10_000  # 100.00 CNY
SHIPPING_FEE = 1_000  # 10.00 CNY

DEFAULT_GUARANTEES: list[dict[str, Any]] = [
    {"kind": "no_reason_return", "days": 7},
    {"kind": "exchange", "days": 15},
    {"kind": "warranty", "days": 365},
]

_UNSET: Any = object()


def make_request(
    *,
    type: str = "return_refund",
    reason: str = "quality_issue",
    claim: dict[str, int] | None = None,
    items: dict[str, tuple[int, int]] | None = None,
    shipping_fee: int = SHIPPING_FEE,
    free_shipping: bool = False,
    paid_total: int | None = None,
    shipped_at: datetime | None = _UNSET,
    delivered_at: datetime | None = _UNSET,
    guarantees: list[dict[str, Any]] | None = None,
    requested_refund: int | None = None,
    case_id: str = "case-1",
) -> CaseRequest:
    """A request on one order.

    ``items`` maps sku to (quantity bought, unit price); by default two kettles at 100.00.
    ``claim`` maps sku to quantity claimed; by default one of the first sku. The order shipped
    on Wednesday 12 March and was delivered two days later unless told otherwise.
    """
    items = items if items is not None else {"sku-1": (2, UNIT_PRICE)}
    claim = claim if claim is not None else {next(iter(items)): 1}
    fee = 0 if free_shipping else shipping_fee
    goods = sum(quantity * price for quantity, price in items.values())
    if shipped_at is _UNSET:
        shipped_at = WEDNESDAY
    if delivered_at is _UNSET:
        delivered_at = None if shipped_at is None else shipped_at + timedelta(days=2)
    order: dict[str, Any] = {
        "order_id": "order-1",
        "shop_id": "shop-1",
        "buyer_id": "buyer-1",
        "currency": "CNY",
        "paid_total": goods + fee if paid_total is None else paid_total,
        "shipping_fee": fee,
        "free_shipping": free_shipping,
        "shipped_at": shipped_at,
        "delivered_at": delivered_at,
        "items": [
            {"sku": sku, "title": sku, "quantity": quantity, "unit_price": price}
            for sku, (quantity, price) in items.items()
        ],
        "guarantees": DEFAULT_GUARANTEES if guarantees is None else guarantees,
    }
    return CaseRequest.model_validate(
        {
            "case_id": case_id,
            "type": type,
            "reason": reason,
            "order": order,
            "items": [{"sku": sku, "quantity": quantity} for sku, quantity in claim.items()],
            "requested_refund": requested_refund,
        }
    )
