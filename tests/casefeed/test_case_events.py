"""The case workflow's outbound events, on the time-skipping server: what a case records, in
order, and that its deadlines' automatic actions and reminders are events too."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

from casefeed.store import EventStore
from domain.models import ParcelStatus
from tests.support.factory import BUYER, STAFF, SYSTEM, request
from tests.support.timeline import run_to_end
from workflows.messages import ParcelEvent


def recorded(case_id: str) -> list[tuple[str, int, int, dict]]:
    store = EventStore(os.environ["AFTERSALES_EVENTS_DSN"])
    try:
        return [(e.type.value, e.sequence, e.version, e.data) for _, e in store.events_after(0, 1000, case_id=case_id)]
    finally:
        store.close()


async def test_a_return_records_every_change_in_order_once(engine):
    case_id = f"ev-{uuid.uuid4().hex[:8]}"
    now = await engine.now()
    await engine.service.open_case(request(now, case_id, type="return_refund", reason="quality_issue"), SYSTEM)
    await engine.service.command(case_id, "approve", STAFF)
    await engine.service.command(case_id, "submit_return_shipment", BUYER,
                                 {"carrier": "sf", "tracking_number": f"SF{case_id}", "shipping_cost": 1_500})
    await engine.service.parcel_event(case_id, ParcelEvent(carrier="sf", tracking_number=f"SF{case_id}",
                                                           status=ParcelStatus.DELIVERED, occurred_at=now))
    await engine.env.sleep(timedelta(seconds=1))
    await engine.service.command(case_id, "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"})
    final = await run_to_end(engine, case_id)

    events = recorded(case_id)
    types = [t for t, *_ in events]
    assert types[0] == "case.opened"
    assert [(d["from"], d["to"]) for t, _, _, d in events if t == "case.state_changed"] == [
        ("awaiting_merchant_decision", "awaiting_return_shipment"),
        ("awaiting_return_shipment", "return_in_transit"),
        ("return_in_transit", "awaiting_inspection"),
        ("awaiting_inspection", "refunding"),
        ("refunding", "refunded"),
    ]
    paid = next(d for t, _, _, d in events if t == "case.refund_paid")
    assert paid["amount"] == 12_500 and sum(line["amount"] for line in paid["lines"]) == 12_500
    assert paid["idempotency_key"]
    ended = next(d for t, _, _, d in events if t == "case.ended")
    assert ended == {"outcome": "refunded", "close_reason": None, "refunded": 12_500}
    assert [n for _, n, _, _ in events] == list(range(1, len(events) + 1))  # every event once, in order
    versions = [v for _, _, v, _ in events]
    assert versions == sorted(versions) and versions[-1] == final.version


async def test_a_deadline_outcome_and_its_reminders_are_events(engine):
    case_id = f"ev-{uuid.uuid4().hex[:8]}"
    now = await engine.now()
    await engine.service.open_case(request(now, case_id, type="refund_only", reason="changed_mind",
                                           order_kwargs={"shipped": False}), SYSTEM)
    await run_to_end(engine, case_id)  # nobody acts: reminders, then the 72 h auto-approval pays out

    types = [t for t, *_ in recorded(case_id)]
    assert types.count("case.reminder_sent") >= 2
    automatic = [d for t, _, _, d in recorded(case_id) if t == "case.automatic_action"]
    assert [a["deadline"] for a in automatic] == ["merchant_decision"]
    assert types.index("case.automatic_action") < types.index("case.refund_paid") < types.index("case.ended")
