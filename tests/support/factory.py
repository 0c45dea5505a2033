"""Realistic case requests for tests, relative to a given 'now'."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.models import CaseRequest, Principal, Role

#: The shop of every order the factory makes.
SHOP = "shop-1"
SYSTEM = Principal(role=Role.SYSTEM, id="shop-backend")
STAFF = Principal(role=Role.STAFF, id="alice", shop_id="shop-1")
SUPERVISOR = Principal(role=Role.SUPERVISOR, id="sam", shop_id="shop-1")
OTHER_STAFF = Principal(role=Role.STAFF, id="mallory", shop_id="shop-2")
BUYER = Principal(role=Role.BUYER, id="buyer-1")
OTHER_BUYER = Principal(role=Role.BUYER, id="buyer-2")
PLATFORM = Principal(role=Role.PLATFORM, id="arbiter")
OPERATOR = Principal(role=Role.OPERATOR, id="oncall")


def order(now: datetime, *, shipped: bool = True, delivered_days_ago: int = 2, free_shipping: bool = False,
          order_id: str = "o-1", quantity: int = 2, unit_price: int = 10_000, shipping_fee: int = 1_000,
          guarantees: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    fee = 0 if free_shipping else shipping_fee
    data: dict[str, Any] = {
        "order_id": order_id, "shop_id": SHOP, "buyer_id": "buyer-1", "currency": "CNY",
        "paid_total": quantity * unit_price + fee, "shipping_fee": fee, "free_shipping": free_shipping,
        "items": [{"sku": "sku-1", "title": "Kettle", "quantity": quantity, "unit_price": unit_price}],
        "guarantees": guarantees if guarantees is not None else [
            {"kind": "no_reason_return", "days": 7}, {"kind": "exchange", "days": 15},
            {"kind": "warranty", "days": 365}],
    }
    if shipped:
        data["shipped_at"] = (now - timedelta(days=delivered_days_ago + 2)).isoformat()
        if delivered_days_ago is not None:
            data["delivered_at"] = (now - timedelta(days=delivered_days_ago)).isoformat()
    return data


def request(now: datetime, case_id: str, *, type: str = "return_refund", reason: str = "quality_issue",
            quantity: int = 1, order_kwargs: dict[str, Any] | None = None, **extra: Any) -> CaseRequest:
    order_kwargs = {"order_id": f"o-{case_id}", **(order_kwargs or {})}
    return CaseRequest.model_validate({
        "case_id": case_id, "type": type, "reason": reason,
        "order": order(now, **order_kwargs),
        "items": [{"sku": "sku-1", "quantity": quantity}], **extra,
    })
