"""Custom search attributes: what operators filter on in the Temporal UI and what the API lists.

Kept current by the case workflow on every change (one upsert per change, only what changed).
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

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
