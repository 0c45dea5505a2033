"""Commands over HTTP: each path, the engine's refusals as statuses, and the checks made first."""

from __future__ import annotations

from tests.api.conftest import uid


async def test_approving_a_refund_pays_it(api):
    view = await api.opened(type="refund_only", reason="changed_mind", order_kwargs={"shipped": False})
    case_id = view["case_id"]
    approved = await api.ok(case_id, "approve", "staff", {"note": "out of stock anyway"})
    assert approved["state"] == "refunding"
    assert approved["next_actions"] == ["add_note"]  # only a note while the payment runs
    final = await api.wait_for_state(case_id, "refunded")
    assert final["refund"]["status"] == "paid"
    assert [p["amount"] for p in api.providers.paid_for(case_id)] == [final["refund"]["amount"]]


async def test_reject_needs_a_reason_and_then_the_case_waits_on_the_buyer(api):
    case_id = (await api.opened())["case_id"]
    before = await api.view(case_id)
    response = await api.act(case_id, "reject", "staff", {})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["reason"]
    assert (await api.view(case_id))["version"] == before["version"]  # nothing happened

    rejected = await api.ok(case_id, "reject", "staff", {"reason": "used, not defective"})
    assert rejected["state"] == "awaiting_buyer_response"
    as_buyer = await api.view(case_id, "buyer")
    assert set(as_buyer["next_actions"]) == {"accept_offer", "cancel", "revise", "escalate", "add_note"}

    # A second decision is a 409 that names the state and what this caller may do instead.
    response = await api.act(case_id, "approve", "staff")
    assert response.status_code == 409
    answer = response.json()
    assert answer["kind"] == "WrongState"
    assert answer["state"] == "awaiting_buyer_response"
    assert answer["allowed_actions"] == (await api.view(case_id, "staff"))["next_actions"]
    assert "approve" not in answer["allowed_actions"]
    assert "awaiting_buyer_response" in answer["detail"]


async def test_stale_expected_version_is_409(api):
    case_id = (await api.opened())["case_id"]
    version = (await api.view(case_id, "staff"))["version"]
    noted = await api.ok(case_id, "add_note", "supervisor", {"note": "I'll take this one", "expected_version": version})
    assert noted["version"] > version
    response = await api.act(case_id, "approve", "staff", {"expected_version": version})
    assert response.status_code == 409
    answer = response.json()
    assert answer["kind"] == "StaleVersion"
    assert answer["version"] == noted["version"]
    assert answer["state"] == "awaiting_merchant_decision"
    assert "approve" in answer["allowed_actions"]
    assert (await api.ok(case_id, "approve", "staff", {"expected_version": noted["version"]}))["state"] == (
        "awaiting_return_shipment"
    )


async def test_a_full_return(api):
    case_id = (await api.opened(type="return_refund", reason="quality_issue"))["case_id"]
    steps = [
        ("approve", "staff", {}, "awaiting_return_shipment"),
        (
            "submit_return_shipment",
            "buyer",
            {"carrier": "sf", "tracking_number": uid("SF"), "shipping_cost": 1_500},
            "return_in_transit",
        ),
        ("confirm_return_received", "staff", {}, "awaiting_inspection"),
        (
            "record_inspection",
            "supervisor",
            {"passed": True, "responsibility": "product_defect", "evidence": ["https://img.example/1.jpg"]},
            "refunding",
        ),
    ]
    for action, who, body, state in steps:
        version = (await api.view(case_id, who))["version"]
        view = await api.ok(case_id, action, who, {**body, "expected_version": version})
        assert view["state"] == state, action
    final = await api.wait_for_state(case_id, "refunded")
    # Seller's fault: item, original shipping and the buyer's return leg.
    assert final["refund"]["refund"] == 10_000 + 1_000
    assert final["refund"]["reimbursement"] == 1_500
    actions = [entry["action"] for entry in final["timeline"]]
    assert actions[:5] == [
        "opened",
        "approve",
        "submit_return_shipment",
        "confirm_return_received",
        "record_inspection",
    ]
    assert "refund_paid" in actions


async def test_an_exchange_and_an_arbitration(api):
    exchange = (await api.opened(type="exchange", reason="quality_issue"))["case_id"]
    await api.ok(exchange, "approve", "staff")
    await api.ok(exchange, "submit_return_shipment", "buyer", {"carrier": "sf", "tracking_number": uid("SF")})
    await api.ok(exchange, "record_inspection", "staff", {"passed": True, "responsibility": "product_defect"})
    shipped = await api.ok(exchange, "ship_item", "staff", {"carrier": "sf", "tracking_number": uid("OUT")})
    assert shipped["state"] == "awaiting_buyer_confirmation"
    done = await api.ok(exchange, "confirm_receipt", "buyer")
    assert done["state"] in ("completed", "refunding")

    disputed = (await api.opened())["case_id"]
    await api.ok(disputed, "reject", "staff", {"reason": "no defect found"})
    assert (await api.ok(disputed, "escalate", "buyer"))["state"] == "in_arbitration"
    response = await api.act(disputed, "arbitrate", "platform", {"outcome": "refund_partial"})
    assert response.status_code == 422  # the engine's rule: a partial refund needs an amount
    assert response.json()["errors"] == [{"field": "amount", "message": "required for refund_partial"}]
    decided = await api.ok(disputed, "arbitrate", "platform", {"outcome": "deny"})
    assert (decided["state"], decided["close_reason"]) == ("closed", "arbitration_denied")
    response = await api.act(disputed, "cancel", "buyer")
    assert response.status_code == 409 and response.json()["state"] == "closed"
    assert response.json()["allowed_actions"] == ["add_note"]


async def test_the_engine_refusals_map_to_statuses(api):
    case_id = (await api.opened())["case_id"]
    # 422: a payload the engine refuses (a return's refund is set at inspection).
    response = await api.act(case_id, "approve", "staff", {"amount": 100})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "amount"
    # 403: the merchant may not extend its own deadline (the platform may).
    response = await api.act(case_id, "extend_deadline", "staff", {"by": "1d", "reason": "busy"})
    assert response.status_code == 403 and response.json()["kind"] == "Forbidden"
    assert (await api.ok(case_id, "extend_deadline", "platform", {"by": "1d", "reason": "holiday"}))["deadline"]

    # 403: over the staff refund limit a supervisor must approve.
    pricey = (await api.opened(type="refund_only", order_kwargs={"unit_price": 60_000}))["case_id"]
    response = await api.act(pricey, "approve", "staff")
    assert response.status_code == 403
    assert response.json()["kind"] == "NeedsSupervisor" and response.json()["limit"] == 50_000
    assert (await api.ok(pricey, "approve", "supervisor"))["state"] == "refunding"


async def test_payloads_are_checked_before_the_engine(api):
    case_id = (await api.opened())["case_id"]
    for body, field in (
        ({"amount": "lots"}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": 100, "bonus": 1}, "bonus"),
        ({"amount": 100, "expected_version": -1}, "expected_version"),
    ):
        response = await api.act(case_id, "offer_partial_refund", "staff", body)
        assert response.status_code == 422, body
        assert field in [e["field"] for e in response.json()["errors"]], body
    response = await api.act(case_id, "extend_deadline", "platform", {"by": "soon", "reason": "x"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "by"
    response = await api.http.post(
        f"/v1/cases/{case_id}/approve", content=b"[]", headers={**api.auth("staff"), "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    # An empty body is an empty payload.
    response = await api.http.post(f"/v1/cases/{api.ref(case_id, 'buyer')}/cancel", headers=api.auth("buyer"))
    assert response.status_code == 200 and response.json()["close_reason"] == "cancelled_by_buyer"


async def test_unknown_actions_and_spellings(api):
    case_id = (await api.opened())["case_id"]
    response = await api.act(case_id, "refund_everything", "staff")
    assert response.status_code == 404
    assert "approve" in response.json()["actions"]
    offered = await api.ok(case_id, "offer-partial-refund", "staff", {"amount": 2_000})
    assert offered["offer"] == 2_000


async def test_who_and_whose_are_checked_first(api):
    case_id = (await api.opened())["case_id"]
    version = (await api.view(case_id))["version"]
    # A role that may never take the action: 403, even with a payload the engine would refuse.
    response = await api.act(case_id, "approve", "buyer", {"amount": "lots"})
    assert response.status_code == 403
    assert response.json()["kind"] == "Forbidden" and "staff" in response.json()["detail"]
    # A case the caller may not see: 404, whatever the body, the same as no case at all.
    for who, action in (("other_buyer", "cancel"), ("other_staff", "approve"), ("other_staff", "reject")):
        response = await api.act(case_id, action, who, {"bogus": True})
        assert response.status_code == 404, (who, action)
        assert response.json() == {"detail": f"case {api.ref(case_id, who)} not found"}
    response = await api.act("no-such-case", "approve", "staff")
    assert response.status_code == 404
    assert (await api.view(case_id))["version"] == version


async def test_a_wrong_state_409_says_whose_actions_each_field_lists(api):
    """The message names what this caller may do, the same list as ``allowed_actions``; what
    every party may do is in ``next_actions_by_role``."""
    case_id = (await api.opened(type="refund_only", reason="changed_mind"))["case_id"]
    await api.ok(case_id, "offer_partial_refund", "staff", {"amount": 3_000})
    response = await api.act(case_id, "approve", "staff")
    assert response.status_code == 409
    answer = response.json()
    assert answer["allowed_actions"] == ["extend_deadline", "add_note"]
    assert answer["detail"].endswith(f"You (staff) may now: {', '.join(answer['allowed_actions'])}")
    assert "accept_offer" not in answer["detail"]  # the buyer's actions are not the caller's
    assert answer["next_actions_by_role"]["buyer"] == ["accept_offer", "decline_offer", "cancel", "add_note"]
    assert answer["next_actions_by_role"]["staff"] == answer["allowed_actions"]


async def test_the_buyer_accepts_a_failed_inspection_by_its_name(api):
    case_id = (await api.opened())["case_id"]
    await api.ok(case_id, "approve", "staff")
    await api.ok(case_id, "submit_return_shipment", "buyer", {"carrier": "sf", "tracking_number": uid("SF")})
    await api.ok(case_id, "record_inspection", "staff", {"passed": False, "responsibility": "no_fault"})
    assert "accept_return_to_buyer" in (await api.view(case_id, "buyer"))["next_actions"]
    accepted = await api.ok(case_id, "accept_return_to_buyer", "buyer")
    assert (accepted["state"], accepted["close_reason"]) == ("closed", "returned_to_buyer")
