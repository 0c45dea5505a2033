"""Custom search attributes: what operators filter on in the Temporal UI and what the API lists.

Set by the order ledger when it starts a case (``at_start``), so a case is searchable before its
first task runs, then kept current by the case workflow on every change (one upsert per change,
only what changed; the case starts from what it was started with, ``as_published``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from domain.models import CaseState, CaseType, Order, WaitingOn

CASE_STATE = SearchAttributeKey.for_keyword("CaseState")
CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")
SHOP_ID = SearchAttributeKey.for_keyword("ShopId")
ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
BUYER_ID = SearchAttributeKey.for_keyword("BuyerId")
WAITING_ON = SearchAttributeKey.for_keyword("WaitingOn")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
DISPUTE_RISK = SearchAttributeKey.for_bool("DisputeRisk")
TRACKING_NUMBERS = SearchAttributeKey.for_keyword_list("TrackingNumbers")

ALL = (CASE_STATE, CASE_TYPE, SHOP_ID, ORDER_ID, BUYER_ID, WAITING_ON, NEXT_DEADLINE, DISPUTE_RISK, TRACKING_NUMBERS)
BY_NAME = {key.name: key for key in ALL}


def values(*, state: CaseState, case_type: CaseType, order: Order, waiting_on: WaitingOn | None,
           next_deadline: datetime | None, dispute_risk: bool, tracking_numbers: list[str]) -> dict[str, Any]:
    """Every attribute's value for a case in this situation, by name (None: not set)."""
    return {
        CASE_STATE.name: state.value,
        CASE_TYPE.name: case_type.value,
        SHOP_ID.name: order.shop_id,
        ORDER_ID.name: order.order_id,
        BUYER_ID.name: order.buyer_id,
        WAITING_ON.name: waiting_on.value if waiting_on else None,
        NEXT_DEADLINE.name: next_deadline,
        DISPUTE_RISK.name: dispute_risk,
        TRACKING_NUMBERS.name: tracking_numbers or None,
    }


def at_start(case_type: CaseType, order: Order, merchant_deadline: datetime) -> TypedSearchAttributes:
    """The attributes of a case that has just opened: waiting on the merchant's decision."""
    opened = values(state=CaseState.AWAITING_MERCHANT_DECISION, case_type=case_type, order=order,
                    waiting_on=WaitingOn.MERCHANT, next_deadline=merchant_deadline, dispute_risk=False,
                    tracking_numbers=[])
    return TypedSearchAttributes(
        [SearchAttributePair(BY_NAME[name], value) for name, value in opened.items() if value is not None]  # type: ignore[misc]
    )


def as_published(attributes: TypedSearchAttributes, present: Collection[str] = ()) -> dict[str, Any]:
    """What ``attributes`` (a case's at its start) hold, by name, in the form of :func:`values`
    (None: not set), so a case upserts only what differs from them. A name in ``present`` (the
    names the start event carries) that the typed form could not read (no type metadata, another
    type) is left out, so the case upserts it rather than assume it is unset."""
    typed = {pair.key.name: pair.value for pair in attributes}
    held: dict[str, Any] = {}
    for key in ALL:
        if key.name in typed:
            value = typed[key.name]
            held[key.name] = (value or None) if isinstance(value, list) else value
        elif key.name not in present:
            held[key.name] = None
    return held
