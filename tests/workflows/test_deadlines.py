"""Every deadline of DOMAIN.md, tested by letting time pass on the time-skipping server:
the right outcome, the right amount, reminders at the right times and no more, nothing twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.models import CaseState, CloseReason, ParcelStatus
from domain.policy import Money, Policy
from runtime.cases import CaseRefused
from tests.support.factory import BUYER, PLATFORM, STAFF, SYSTEM, request
from tests.support.timeline import actions, pass_time, run_to_end
from workflows.messages import ParcelEvent

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def near(a, b, tolerance=timedelta(minutes=1)) -> bool:
    return abs(a - b) <= tolerance


def reminders(view) -> list[tuple[str, str]]:
    return [(e.detail["to"], e.detail["before"]) for e in view.timeline if e.action == "reminder_sent"]


async def test_unshipped_refund_auto_approves_after_72h_with_reminders_once(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-1", type="refund_only", reason="changed_mind",
                                           order_kwargs={"shipped": False}), SYSTEM)
    view = await engine.service.view("dl-1")
    assert view.waiting_on == "merchant"
    assert near(view.deadline, view.created_at + 72 * HOUR)

    await pass_time(engine, 69 * HOUR)
    view = await engine.service.view("dl-1")
    assert view.state == CaseState.AWAITING_MERCHANT_DECISION
    assert reminders(view) == [("shop", "1d"), ("supervisor", "12h")]
    sent = {e.detail["to"]: e.at for e in view.timeline if e.action == "reminder_sent"}
    assert near(sent["shop"], view.created_at + 48 * HOUR)
    assert near(sent["supervisor"], view.created_at + 60 * HOUR)

    await pass_time(engine, 4 * HOUR)
    view = await engine.service.view("dl-1")
    assert reminders(view) == [("shop", "1d"), ("supervisor", "12h"), ("shop", "2h")]
    assert near(view.timeline[[e.action for e in view.timeline].index("reminder_sent") + 2].at,
                view.created_at + 70 * HOUR)
    assert "auto_approved" in actions(view)

    final = await run_to_end(engine, "dl-1")
    assert final.state == CaseState.REFUNDED
    # One order item of two claimed (quantity 1 of 2): no shipping fee, it does not cover the order.
    assert final.refund.refund == 10_000
    assert len(engine.providers.paid_for("dl-1")) == 1
    assert actions(final).count("auto_approved") == 1
    assert actions(final).count("reminder_sent") == 3
    shop_reminders = [m for m in engine.providers.messages_for("dl-1", "reminder") if m["recipient_role"] == "staff"]
    assert len(shop_reminders) == 2


@pytest.fixture
def compensation_policy() -> Policy:
    return Policy(money=Money(out_of_stock_compensation_bps=3_000, out_of_stock_compensation_cap=50_000))


async def test_out_of_stock_timeout_adds_compensation(engine, compensation_policy):
    engine.service.policy = compensation_policy
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-oos", type="refund_only", reason="out_of_stock", quantity=2,
                                           order_kwargs={"shipped": False}), SYSTEM)
    await pass_time(engine, 72 * HOUR)
    final = await run_to_end(engine, "dl-oos")
    assert final.state == CaseState.REFUNDED
    assert final.refund.refund == 2 * 10_000 + 1_000  # everything, shipping included
    assert final.refund.reimbursement == 6_000  # 30 % of the items, under the cap
    assert [p["amount"] for p in engine.providers.paid_for("dl-oos")] == [27_000]
    assert final.policy_version == compensation_policy.version


async def test_out_of_stock_approved_in_time_gets_no_compensation(engine, compensation_policy):
    engine.service.policy = compensation_policy
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-oos2", type="refund_only", reason="out_of_stock", quantity=2,
                                           order_kwargs={"shipped": False}), SYSTEM)
    await engine.service.command("dl-oos2", "approve", STAFF)
    final = await run_to_end(engine, "dl-oos2")
    assert final.refund.reimbursement == 0


async def test_shipped_return_auto_approved_after_5_days_then_buyer_timeout(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-2", type="return_refund", reason="no_reason"), SYSTEM)
    await pass_time(engine, 5 * DAY)
    view = await engine.service.view("dl-2")
    assert view.state == CaseState.AWAITING_RETURN_SHIPMENT
    assert view.waiting_on == "buyer"
    assert near(view.deadline, view.created_at + 12 * DAY)

    await pass_time(engine, 7 * DAY)
    view = await engine.service.view("dl-2")
    assert view.state == CaseState.CLOSED
    assert view.close_reason == CloseReason.BUYER_TIMEOUT
    assert ("buyer", "1d") in reminders(view)
    assert engine.providers.paid_for("dl-2") == []


async def test_inspection_deadline_counts_from_submission_without_courier_events(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-3", reason="quality_issue"), SYSTEM)
    await engine.service.command("dl-3", "approve", STAFF)
    await engine.service.command("dl-3", "submit_return_shipment", BUYER,
                                 {"carrier": "sf", "tracking_number": "DL3", "shipping_cost": 3_000})
    await pass_time(engine, 10 * DAY - HOUR)
    assert (await engine.service.view("dl-3")).state == CaseState.RETURN_IN_TRANSIT
    await pass_time(engine, 2 * HOUR)
    final = await run_to_end(engine, "dl-3")
    assert final.state == CaseState.REFUNDED
    assert "auto_refund" in actions(final)
    assert final.refund.refund == 11_000
    assert final.refund.reimbursement == 2_000  # return shipping capped by policy


async def test_inspection_deadline_restarts_from_delivery(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-4", reason="quality_issue"), SYSTEM)
    await engine.service.command("dl-4", "approve", STAFF)
    await engine.service.command("dl-4", "submit_return_shipment", BUYER, {"carrier": "sf", "tracking_number": "DL4"})
    await pass_time(engine, 3 * DAY)
    delivered = await engine.now()
    await engine.service.parcel_event("dl-4", ParcelEvent(carrier="sf", tracking_number="DL4",
                                                          status=ParcelStatus.DELIVERED, occurred_at=delivered))
    await pass_time(engine, timedelta(seconds=1))
    view = await engine.service.view("dl-4")
    assert view.state == CaseState.AWAITING_INSPECTION
    assert near(view.deadline, delivered + 10 * DAY)
    await pass_time(engine, 8 * DAY)  # past the submission-based deadline, before the delivery-based one
    assert (await engine.service.view("dl-4")).state == CaseState.AWAITING_INSPECTION
    await pass_time(engine, 2 * DAY + HOUR)
    assert (await run_to_end(engine, "dl-4")).state == CaseState.REFUNDED


async def test_courier_polling_fallback_finds_the_delivered_return(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-poll"), SYSTEM)
    await engine.service.command("dl-poll", "approve", STAFF)
    await engine.service.command("dl-poll", "submit_return_shipment", BUYER,
                                 {"carrier": "sf", "tracking_number": "POLL1"})
    engine.providers.parcels["POLL1"] = {"status": "delivered", "occurred_at": (now + 2 * HOUR).isoformat()}
    await pass_time(engine, 13 * HOUR)  # the first poll is 12 h after submission
    view = await engine.service.view("dl-poll")
    assert view.state == CaseState.AWAITING_INSPECTION
    delivered = next(e for e in view.timeline if e.action == "parcel_delivered")
    assert delivered.detail["source"] == "courier_poll"


async def test_refusal_unanswered_for_5_days_closes_as_rejected(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-5", type="refund_only", reason="not_as_described"), SYSTEM)
    await engine.service.command("dl-5", "reject", STAFF, {"reason": "photos show no defect"})
    await pass_time(engine, 5 * DAY + HOUR)
    view = await engine.service.view("dl-5")
    assert view.state == CaseState.CLOSED
    assert view.close_reason == CloseReason.REJECTED


async def test_lapsed_offer_returns_to_merchant_with_fresh_clock(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-6", type="refund_only", reason="quality_issue"), SYSTEM)
    await engine.service.command("dl-6", "offer_partial_refund", STAFF, {"amount": 3_000})
    await pass_time(engine, 3 * DAY + HOUR)
    view = await engine.service.view("dl-6")
    assert view.state == CaseState.AWAITING_MERCHANT_DECISION
    assert view.offer is None
    lapsed = next(e for e in view.timeline if e.action == "offer_lapsed")
    assert near(view.deadline, lapsed.at + 5 * DAY)


async def test_exchange_not_shipped_in_3_days_converts_to_refund(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-7", type="exchange", reason="wrong_item"), SYSTEM)
    await engine.service.command("dl-7", "approve", STAFF)
    await engine.service.command("dl-7", "submit_return_shipment", BUYER, {"carrier": "sf", "tracking_number": "DL7"})
    await engine.service.command("dl-7", "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"})
    view = await engine.service.view("dl-7")
    assert view.state == CaseState.AWAITING_MERCHANT_SHIPMENT
    await pass_time(engine, 3 * DAY + HOUR)
    final = await run_to_end(engine, "dl-7")
    assert final.state == CaseState.REFUNDED
    assert "converted_to_refund" in actions(final)
    assert final.refund.refund == 11_000


async def test_repair_not_shipped_in_15_days_escalates_to_platform(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-8", type="repair", reason="quality_issue"), SYSTEM)
    await engine.service.command("dl-8", "approve", STAFF)
    await engine.service.command("dl-8", "submit_return_shipment", BUYER, {"carrier": "sf", "tracking_number": "DL8"})
    await engine.service.command("dl-8", "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"})
    await pass_time(engine, 15 * DAY + HOUR)
    view = await engine.service.view("dl-8")
    assert view.state == CaseState.IN_ARBITRATION
    assert view.waiting_on == "platform"
    # The platform deadline only reminds; nothing is decided for the platform.
    await pass_time(engine, 49 * HOUR)
    view = await engine.service.view("dl-8")
    assert view.state == CaseState.IN_ARBITRATION
    assert engine.providers.messages_for("dl-8", "overdue")
    assert engine.providers.paid_for("dl-8") == []


async def test_replacement_auto_confirmed_after_10_days(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-9", type="exchange", reason="quality_issue"), SYSTEM)
    await engine.service.command("dl-9", "approve", STAFF)
    await engine.service.command("dl-9", "submit_return_shipment", BUYER,
                                 {"carrier": "sf", "tracking_number": "DL9", "shipping_cost": 800})
    await engine.service.command("dl-9", "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"})
    await engine.service.command("dl-9", "ship_item", STAFF, {"carrier": "sf", "tracking_number": "OUT9"})
    await pass_time(engine, 10 * DAY + HOUR)
    final = await run_to_end(engine, "dl-9")
    assert final.state == CaseState.COMPLETED
    assert "auto_confirmed" in actions(final)
    # An exchange pays no refund, but the seller-fault return leg is reimbursed.
    assert final.refund.refund == 0
    assert [p["amount"] for p in engine.providers.paid_for("dl-9")] == [800]


async def test_dispute_risk_flag_after_5_days_open(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-10", type="refund_only", reason="not_as_described"), SYSTEM)
    await engine.service.command("dl-10", "reject", STAFF, {"reason": "no"})
    await engine.service.command("dl-10", "escalate", BUYER)
    await pass_time(engine, 5 * DAY + HOUR)
    view = await engine.service.view("dl-10")
    assert view.dispute_risk
    assert engine.providers.messages_for("dl-10", "dispute_risk")
    assert actions(view).count("dispute_risk_flagged") == 1


async def test_reminders_stop_when_the_merchant_acts(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-11", type="refund_only", reason="changed_mind",
                                           order_kwargs={"shipped": False}), SYSTEM)
    await pass_time(engine, 49 * HOUR)  # the 24 h reminder went out
    await engine.service.command("dl-11", "approve", STAFF)
    final = await run_to_end(engine, "dl-11")
    assert reminders(final) == [("shop", "1d")]


async def test_extension_moves_the_deadline_and_the_outcome(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-12", type="exchange", reason="quality_issue"), SYSTEM)
    await engine.service.command("dl-12", "approve", STAFF)
    await engine.service.command("dl-12", "submit_return_shipment", BUYER, {"carrier": "sf", "tracking_number": "D12"})
    await engine.service.command("dl-12", "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"})
    await engine.service.command("dl-12", "ship_item", STAFF, {"carrier": "sf", "tracking_number": "O12"})
    before = (await engine.service.view("dl-12")).deadline
    view = await engine.service.command("dl-12", "extend_deadline", STAFF,
                                        {"by": "3d", "reason": "buyer is travelling"})
    assert near(view.deadline, before + 3 * DAY)
    assert view.timeline[-1].action == "extend_deadline"
    await pass_time(engine, 11 * DAY)
    assert (await engine.service.view("dl-12")).state == CaseState.AWAITING_BUYER_CONFIRMATION
    await pass_time(engine, 2 * DAY + HOUR)
    assert (await engine.service.view("dl-12")).state == CaseState.COMPLETED


async def test_action_after_the_deadline_is_refused_with_what_happened(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-13", type="refund_only", reason="changed_mind",
                                           order_kwargs={"shipped": False}), SYSTEM)
    await pass_time(engine, 73 * HOUR)
    with pytest.raises(CaseRefused) as refused:
        await engine.service.command("dl-13", "reject", STAFF, {"reason": "too late"})
    assert refused.value.kind == "WrongState"
    assert "merchant_decision deadline passed" in refused.value.message
    assert len(engine.providers.paid_for("dl-13")) == 1


async def test_platform_may_extend_the_merchants_deadline_but_the_merchant_may_not(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-14", type="refund_only", reason="changed_mind"), SYSTEM)
    with pytest.raises(CaseRefused) as refused:
        await engine.service.command("dl-14", "extend_deadline", STAFF, {"by": "2d", "reason": "busy"})
    assert refused.value.kind == "Forbidden"
    view = await engine.service.command("dl-14", "extend_deadline", PLATFORM, {"by": "2d", "reason": "holiday"})
    assert near(view.deadline, view.created_at + 7 * DAY)


async def test_satisfaction_follow_up_three_days_after_the_end(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dl-15", type="refund_only", reason="changed_mind"), SYSTEM)
    await engine.service.command("dl-15", "cancel", BUYER)
    await pass_time(engine, 2 * DAY)
    assert not engine.providers.messages_for("dl-15", "satisfaction_followup")
    await pass_time(engine, DAY + HOUR)
    assert len(engine.providers.messages_for("dl-15", "satisfaction_followup")) == 1
