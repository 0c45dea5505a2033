"""Commands: refused in a wrong state, by a wrong actor, with a bad payload or a stale version,
with nothing changed; the negotiation paths; payments that fail and are resumed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.models import CaseState, CaseView, CloseReason
from runtime.cases import CaseRefused
from tests.support.factory import (
    BUYER,
    OPERATOR,
    OTHER_BUYER,
    OTHER_STAFF,
    PLATFORM,
    STAFF,
    SUPERVISOR,
    SYSTEM,
    request,
)
from tests.support.timeline import actions, pass_time, run_to_end


async def opened(engine, case_id: str, **kwargs):
    now = await engine.now()
    await engine.service.open_case(request(now, case_id, **kwargs), SYSTEM)
    return await engine.service.view(case_id)


async def refused(engine, case_id, action, actor, payload=None, **kwargs) -> CaseRefused:
    before = await engine.service.view(case_id)
    with pytest.raises(CaseRefused) as caught:
        await engine.service.command(case_id, action, actor, payload, **kwargs)
    after = await engine.service.view(case_id)
    assert after.version == before.version, "a refused command changed the case"
    assert after.timeline == before.timeline
    return caught.value


async def test_wrong_state_names_the_state_and_the_allowed_actions(engine):
    await opened(engine, "c-1", type="refund_only", reason="changed_mind")
    err = await refused(engine, "c-1", "confirm_receipt", BUYER)
    assert err.kind == "WrongState"
    assert err.details["state"] == "awaiting_merchant_decision"
    assert "approve" in err.details["allowed_actions"]
    assert "awaiting_merchant_decision" in err.message


@pytest.mark.parametrize(
    ("actor", "action", "payload", "kind"),
    [
        (BUYER, "approve", {}, "Forbidden"),
        (OTHER_STAFF, "approve", {}, "NotYours"),  # another shop's case: the API says 404
        (OTHER_BUYER, "cancel", {}, "NotYours"),  # another buyer's case: the API says 404
        (PLATFORM, "approve", {}, "Forbidden"),
        (OPERATOR, "add_note", {"note": "hi"}, "Forbidden"),
        (STAFF, "cancel", {}, "Forbidden"),
    ],
)
async def test_wrong_actor_is_forbidden(engine, actor, action, payload, kind):
    case_id = f"c-2-{actor.role}-{actor.id}-{action}"
    await opened(engine, case_id, type="refund_only", reason="changed_mind")
    err = await refused(engine, case_id, action, actor, payload)
    assert err.kind == kind


@pytest.mark.parametrize(
    ("action", "payload", "field"),
    [
        ("reject", {}, "reason"),
        ("reject", {"reason": ""}, "reason"),
        ("approve", {"amount": -5}, "amount"),
        ("approve", {"amount": 999_999}, "amount"),
        ("approve", {"bogus": 1}, "bogus"),
        ("offer_partial_refund", {"amount": "lots"}, "amount"),
    ],
)
async def test_bad_payload_names_the_field(engine, action, payload, field):
    case_id = f"c-3-{action}-{field}-{len(str(payload))}"
    await opened(engine, case_id, type="refund_only", reason="changed_mind")
    err = await refused(engine, case_id, action, STAFF, payload)
    assert err.kind == "InvalidPayload"
    assert field in [e["field"] for e in err.details["errors"]]


async def test_stale_expected_version_is_refused(engine):
    view = await opened(engine, "c-4", type="refund_only", reason="changed_mind")
    await engine.service.command("c-4", "add_note", STAFF, {"note": "calling the buyer"},
                                 expected_version=view.version)
    err = await refused(engine, "c-4", "approve", SUPERVISOR, expected_version=view.version)
    assert err.kind == "StaleVersion"


async def test_refund_over_the_staff_limit_needs_a_supervisor(engine):
    await opened(engine, "c-5", type="refund_only", reason="changed_mind", quantity=2,
                 order_kwargs={"shipped": False, "unit_price": 40_000})
    err = await refused(engine, "c-5", "approve", STAFF)
    assert err.kind == "NeedsSupervisor"
    assert "50000" in err.message
    view = await engine.service.command("c-5", "approve", SUPERVISOR)
    assert view.state == CaseState.REFUNDING
    final = await run_to_end(engine, "c-5")
    assert final.refund.refund == 81_000


async def test_partial_refund_accepted_pays_the_offer(engine):
    await opened(engine, "c-6", type="refund_only", reason="quality_issue")
    await engine.service.command("c-6", "offer_partial_refund", STAFF, {"amount": 3_000})
    view = await engine.service.view("c-6")
    assert view.state == CaseState.AWAITING_BUYER_RESPONSE
    assert "accept_offer" in view.actions_by_role["buyer"]
    await engine.service.command("c-6", "accept_offer", BUYER)
    final = await run_to_end(engine, "c-6")
    assert final.state == CaseState.REFUNDED
    assert final.refund.refund == 3_000
    assert sum(line.amount for line in final.refund.breakdown) == 3_000


async def test_declined_offer_goes_back_to_the_merchant(engine):
    await opened(engine, "c-7", type="refund_only", reason="quality_issue")
    await engine.service.command("c-7", "offer_partial_refund", STAFF, {"amount": 3_000})
    view = await engine.service.command("c-7", "decline_offer", BUYER)
    assert view.state == CaseState.AWAITING_MERCHANT_DECISION


async def test_require_return_turns_a_refund_into_a_return(engine):
    await opened(engine, "c-8", type="refund_only", reason="quality_issue")
    view = await engine.service.command("c-8", "require_return", STAFF)
    assert view.type == "return_refund"
    assert view.state == CaseState.AWAITING_RETURN_SHIPMENT


async def test_refusal_revised_then_escalated_and_arbitrated(engine):
    await opened(engine, "c-9", type="refund_only", reason="not_as_described")
    await engine.service.command("c-9", "reject", STAFF, {"reason": "as described"})
    view = await engine.service.command("c-9", "revise", BUYER, {"requested_refund": 5_000, "description": "see photos"})
    assert view.state == CaseState.AWAITING_MERCHANT_DECISION
    await engine.service.command("c-9", "reject", STAFF, {"reason": "still no"})
    view = await engine.service.command("c-9", "escalate", BUYER)
    assert view.state == CaseState.IN_ARBITRATION
    err = await refused(engine, "c-9", "arbitrate", STAFF, {"outcome": "deny"})
    assert err.kind == "Forbidden"
    err = await refused(engine, "c-9", "arbitrate", PLATFORM, {"outcome": "refund_partial"})
    assert err.kind == "InvalidPayload"
    await engine.service.command("c-9", "arbitrate", PLATFORM, {"outcome": "refund_partial", "amount": 4_000})
    final = await run_to_end(engine, "c-9")
    assert final.refund.refund == 4_000
    assert [p["amount"] for p in engine.providers.paid_for("c-9")] == [4_000]


async def test_failed_inspection_blaming_the_buyer_needs_evidence(engine):
    await opened(engine, "c-10", type="return_refund", reason="quality_issue")
    await engine.service.command("c-10", "approve", STAFF)
    await engine.service.command("c-10", "submit_return_shipment", BUYER, {"carrier": "sf", "tracking_number": "C10"})
    await engine.service.command("c-10", "confirm_return_received", STAFF)
    err = await refused(engine, "c-10", "record_inspection", STAFF,
                        {"passed": False, "responsibility": "buyer_misuse"})
    assert err.details["errors"][0]["field"] == "evidence"
    view = await engine.service.command("c-10", "record_inspection", STAFF,
                                        {"passed": False, "responsibility": "buyer_misuse",
                                         "evidence": ["https://evidence.example/leak.jpg"]})
    assert view.state == CaseState.AWAITING_BUYER_RESPONSE
    view = await engine.service.command("c-10", "accept_offer", BUYER)
    assert view.state == CaseState.CLOSED
    assert view.close_reason == CloseReason.RETURNED_TO_BUYER


async def test_inspection_deduction_reduces_the_refund(engine):
    await opened(engine, "c-11", type="return_refund", reason="no_reason",
                 order_kwargs={"free_shipping": True})
    await engine.service.command("c-11", "approve", STAFF)
    await engine.service.command("c-11", "submit_return_shipment", BUYER,
                                 {"carrier": "sf", "tracking_number": "C11", "shipping_cost": 1_200})
    await engine.service.command("c-11", "record_inspection", STAFF,
                                 {"passed": True, "responsibility": "no_fault", "deduction": 1_500})
    final = await run_to_end(engine, "c-11")
    # No-reason return on free shipping: the buyer pays the return leg; the deduction applies.
    assert final.refund.refund == 10_000 - 1_500
    assert final.refund.reimbursement == 0


async def refused_payout(engine, case_id: str) -> CaseView:
    """A refund-only case approved while the provider refuses its payouts: in needs_attention."""
    engine.providers.refuse_payouts_for.add(case_id)
    await opened(engine, case_id, type="refund_only", reason="changed_mind")
    await engine.service.command(case_id, "approve", STAFF)
    await pass_time(engine, timedelta(seconds=5))
    view = await engine.service.view(case_id)
    assert view.state == CaseState.NEEDS_ATTENTION
    return view


async def test_refused_payment_needs_attention_then_resumes_and_pays_once(engine):
    view = await refused_payout(engine, "c-12")
    assert "account is closed" in (view.needs_attention_reason or "")
    assert [m["recipient_role"] for m in engine.providers.messages_for("c-12", "needs_attention")] == ["supervisor"]
    err = await refused(engine, "c-12", "resume", STAFF)
    assert err.kind == "Forbidden"

    engine.providers.refuse_payouts_for.clear()
    await engine.service.command("c-12", "resume", SUPERVISOR)
    final = await run_to_end(engine, "c-12")
    assert final.state == CaseState.REFUNDED
    assert len(engine.providers.paid_for("c-12")) == 1


async def test_resume_takes_a_refused_payout_the_provider_recorded_after_all_and_pays_nothing_more(engine):
    stuck = await refused_payout(engine, "c-12b")
    # The provider refused, then paid the first key anyway (it happens: a refusal answered by
    # one system while another had queued the transfer).
    first_key = "aftersales:shop-1:c-12b:payout:0"
    engine.providers.payouts[first_key] = {"payment_id": "pay-late", "amount": stuck.refund.amount,
                                           "currency": stuck.refund.currency, "case_id": "c-12b"}
    engine.providers.refuse_payouts_for.clear()
    calls = engine.providers.payout_calls

    await engine.service.command("c-12b", "resume", SUPERVISOR)
    final = await run_to_end(engine, "c-12b")
    assert final.state == CaseState.REFUNDED
    assert final.refund.payment_id == "pay-late"
    assert engine.providers.payout_calls == calls  # no payment was asked for
    assert [p["payment_id"] for p in engine.providers.paid_for("c-12b")] == ["pay-late"]
    paid = next(e for e in final.timeline if e.action == "refund_paid")
    assert paid.detail["already_paid"] is True
    assert paid.detail["idempotency_key"] == first_key  # where the money moved, not the key that found it


async def test_a_late_payment_of_another_amount_stops_the_resumed_payout_for_a_person(engine):
    stuck = await refused_payout(engine, "c-12c")
    engine.providers.payouts["aftersales:shop-1:c-12c:payout:0"] = {"payment_id": "pay-odd", "amount": stuck.refund.amount - 1,
                                                            "currency": stuck.refund.currency, "case_id": "c-12c"}
    engine.providers.refuse_payouts_for.clear()
    calls = engine.providers.payout_calls

    await engine.service.command("c-12c", "resume", SUPERVISOR)
    await pass_time(engine, timedelta(seconds=5))
    view = await engine.service.view("c-12c")
    assert view.state == CaseState.NEEDS_ATTENTION
    assert "aftersales:shop-1:c-12c:payout:0" in view.needs_attention_reason and "reconcile" in view.needs_attention_reason
    assert engine.providers.payout_calls == calls


async def test_provider_outage_is_retried_and_pays_exactly_once(engine):
    engine.providers.fail_next_payouts = 3
    await opened(engine, "c-13", type="refund_only", reason="changed_mind")
    await engine.service.command("c-13", "approve", STAFF)
    final = await run_to_end(engine, "c-13")
    assert final.state == CaseState.REFUNDED
    assert engine.providers.payout_calls == 4
    assert len(engine.providers.paid_for("c-13")) == 1


async def test_notes_are_allowed_to_every_party_and_recorded(engine):
    await opened(engine, "c-14", type="refund_only", reason="changed_mind")
    for actor in (BUYER, STAFF, SUPERVISOR, PLATFORM):
        await engine.service.command("c-14", "add_note", actor, {"note": f"from {actor.role}"})
    view = await engine.service.view("c-14")
    assert actions(view).count("add_note") == 4
    assert [e.actor.role for e in view.timeline if e.action == "add_note"] == ["buyer", "staff", "supervisor",
                                                                               "platform"]
