"""Rows of the ``cases`` read model, written the way the case workflow writes them
(``EventStore.record``), for the queue and page tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from casefeed.events import CaseEvent, CaseSummary, EventBatch, EventType
from casefeed.store import EventStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def put(store: EventStore, case_id: str, *, shop: str = "shop-1", state: str = "awaiting_merchant_decision",
        waiting_on: str | None = "merchant", due_in: timedelta | None = timedelta(hours=10),
        deadline_kind: str | None = "merchant_decision", type: str = "refund_only", reason: str = "quality_issue",
        dispute_risk: bool = False, refund: int = 19_900, now: datetime = T0,
        event: tuple[EventType, dict[str, Any]] = (EventType.CASE_OPENED, {})) -> None:
    kind, data = event
    summary = CaseSummary(case_key=f"case:{shop}:{case_id}", case_id=case_id, shop_id=shop, buyer_id="buyer-1",
                          order_id=f"o-{case_id}", type=type, reason=reason, state=state, waiting_on=waiting_on,
                          deadline=now + due_in if due_in is not None else None,
                          deadline_kind=deadline_kind if due_in is not None else None, dispute_risk=dispute_risk,
                          close_reason=None, currency="CNY", refund_amount=refund, version=1, updated_at=now)
    events = [CaseEvent(id=f"evt-{shop}-{case_id}", type=kind, case_id=case_id, shop_id=shop, version=1, sequence=1,
                        occurred_at=now, data=data)]
    store.record(EventBatch(case_key=summary.case_key, events=events, summary=summary), now, timedelta(days=1))
