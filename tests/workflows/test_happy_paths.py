"""Each case type from opening to its end, driven by the parties as they would."""

from __future__ import annotations

from datetime import timedelta

from domain.models import CaseState, ParcelStatus
from tests.support.factory import BUYER, STAFF, SYSTEM, request
from tests.support.timeline import run_to_end
from workflows.messages import ParcelEvent

finish = run_to_end


async def test_refund_only_unshipped_is_paid_on_approval(engine):
    now = await engine.now()
    req = request(now, "ro-1", type="refund_only", reason="changed_mind", quantity=2,
                  order_kwargs={"shipped": False})
    opened = await engine.service.open_case(req, SYSTEM)
    assert opened.created

    view = await engine.service.command("ro-1", "approve", STAFF)
    assert view.state == CaseState.REFUNDING

    final = await finish(engine, "ro-1")
    assert final.state == CaseState.REFUNDED
    # Unshipped and the case covers the whole order: the items and the shipping fee come back.
    assert final.refund.refund == 2 * 10_000 + 1_000
    payouts = engine.providers.paid_for("ro-1")
    assert [p["amount"] for p in payouts] == [21_000]
    assert engine.providers.messages_for("ro-1", "satisfaction_followup")


async def test_return_refund_with_courier_delivery_and_inspection(engine):
    now = await engine.now()
    req = request(now, "rr-1", type="return_refund", reason="quality_issue")
    await engine.service.open_case(req, SYSTEM)
    await engine.service.command("rr-1", "approve", STAFF)
    view = await engine.service.command("rr-1", "submit_return_shipment", BUYER,
                                        {"carrier": "sf", "tracking_number": "SF100", "shipping_cost": 1_500})
    assert view.state == CaseState.RETURN_IN_TRANSIT
    assert view.waiting_on == "courier"

    await engine.service.parcel_event("rr-1", ParcelEvent(carrier="sf", tracking_number="SF100",
                                                          status=ParcelStatus.DELIVERED, occurred_at=now))
    await engine.env.sleep(timedelta(seconds=1))
    view = await engine.service.view("rr-1")
    assert view.state == CaseState.AWAITING_INSPECTION

    view = await engine.service.command("rr-1", "record_inspection", STAFF,
                                        {"passed": True, "responsibility": "product_defect"})
    final = await finish(engine, "rr-1")
    assert final.state == CaseState.REFUNDED
    # Seller's fault: item, original shipping, and the buyer's return leg (under the 2000 cap).
    assert final.refund.refund == 10_000 + 1_000
    assert final.refund.reimbursement == 1_500
    assert [p["amount"] for p in engine.providers.paid_for("rr-1")] == [12_500]
