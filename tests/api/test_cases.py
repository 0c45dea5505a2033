"""Opening and reading cases: idempotent retries, conflicts, validation, eligibility, who sees what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from casefeed.events import CaseSummary, EventBatch
from casefeed.store import EventStore
from domain.models import CaseView
from tests.api.conftest import case_body, uid
from workflows.ids import case_workflow_id


async def test_open_then_retry_then_conflict(api):
    case_id = uid()
    body = case_body(case_id)
    first = await api.open(body)
    assert first.status_code == 201, first.text
    assert first.headers["Location"] == f"/v1/cases/shop-1:{case_id}"  # a reference every caller may use
    view = first.json()
    assert view["case_id"] == case_id
    assert view["state"] == "awaiting_merchant_decision"
    assert view["waiting_on"] == "merchant"
    assert view["next_actions"] == []  # a system opens and delivers parcel events, nothing else

    retry = await api.open(body)
    assert retry.status_code == 200
    assert retry.json()["case_id"] == case_id
    assert retry.json()["version"] == view["version"]

    different = await api.open({**body, "description": "something else"})
    assert different.status_code == 409
    assert different.json()["kind"] == "CaseConflict"
    assert case_id in different.json()["detail"]


async def test_a_case_id_used_for_another_order_is_a_conflict(api):
    case_id = uid()
    assert (await api.open(case_body(case_id))).status_code == 201
    other_order = case_body(case_id, order_kwargs={"order_id": f"o-other-{case_id}"})
    response = await api.open(other_order)
    assert response.status_code == 409
    assert response.json()["kind"] == "CaseConflict"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["order"].update(currency="yuan"), "order.currency"),
        (lambda b: b.update(case_id="has spaces"), "case_id"),
        (lambda b: b.update(type="teleport"), "type"),
        (lambda b: b["items"][0].update(quantity=0), "items.0.quantity"),
        (lambda b: b.pop("order"), "order"),
        (lambda b: b.update(surprise=True), "surprise"),
        (lambda b: b["order"].update(shipped_at="2024-01-01T00:00:00"), "order.shipped_at"),
    ],
)
async def test_invalid_request_is_422_naming_the_field(api, change, field):
    body = case_body(uid())
    change(body)
    response = await api.open(body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert field in [e["field"] for e in answer["errors"]], answer
    assert field in answer["detail"]


async def test_ineligible_request_is_422_naming_the_field(api):
    case_id = uid()
    response = await api.open(case_body(case_id, quantity=5))  # two were bought
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["kind"] == "Ineligible"
    assert answer["errors"][0]["field"].startswith("items")
    # No case was created.
    assert (await api.http.get(f"/v1/cases/{api.ref(case_id, 'operator')}", headers=api.auth("operator"))).status_code == 404


async def test_a_late_request_is_422_naming_the_date_field_and_the_guarantee(api):
    # Delivered 9 days ago (shipped 11): the 7-day no-reason return ended 2 days ago.
    case_id = uid()
    response = await api.open(case_body(case_id, reason="no_reason", order_kwargs={"delivered_days_ago": 9}))
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "order.delivered_at"
    assert "no_reason_return 7d window ended" in error["message"]
    assert (await api.http.get(f"/v1/cases/{api.ref(case_id, 'operator')}", headers=api.auth("operator"))).status_code == 404


async def test_only_a_system_opens_cases(api):
    for who in ("buyer", "staff", "supervisor", "platform", "operator"):
        response = await api.open(case_body(uid()), who=who)
        assert response.status_code == 403, who
    # A system bound to a shop opens that shop's cases only.
    assert (await api.open(case_body(uid()), who="shop1_system")).status_code == 201
    response = await api.open(case_body(uid(), shop_id="shop-2"), who="shop1_system")
    assert response.status_code == 403


async def test_who_sees_a_case(api):
    view = await api.opened(type="refund_only", reason="changed_mind", order_kwargs={"shipped": False})
    case_id = view["case_id"]
    seen = {}
    for who in ("buyer", "staff", "supervisor", "platform", "operator", "system", "shop1_system"):
        response = await api.http.get(f"/v1/cases/{api.ref(case_id, who)}", headers=api.auth(who))
        assert response.status_code == 200, (who, response.text)
        seen[who] = response.json()
    # next_actions: what this caller's role may do now.
    assert seen["buyer"]["next_actions"] == ["cancel", "add_note"]
    assert set(seen["staff"]["next_actions"]) == {
        "approve",
        "reject",
        "offer_partial_refund",
        "add_note",
    }  # not extend_deadline: the merchant may not extend its own deadline
    assert seen["supervisor"]["next_actions"] == seen["staff"]["next_actions"]
    assert set(seen["platform"]["next_actions"]) == {"extend_deadline", "add_note"}
    # Operators watch every case: they see every party's next actions (they take none).
    everyone = set(seen["buyer"]["next_actions"]) | set(seen["staff"]["next_actions"]) | set(
        seen["platform"]["next_actions"]
    )
    assert set(seen["operator"]["next_actions"]) == everyone
    assert seen["system"]["next_actions"] == []
    # Everyone who sees it sees the same record.
    assert seen["buyer"]["timeline"] == seen["staff"]["timeline"]
    assert seen["buyer"]["timeline"][0]["action"] == "opened"


async def test_a_case_you_may_not_see_is_indistinguishable_from_none(api):
    case_id = (await api.opened())["case_id"]
    missing = await api.http.get("/v1/cases/no-such-case", headers=api.auth("other_staff"))
    assert missing.status_code == 404
    for who in ("other_buyer", "other_staff"):
        response = await api.http.get(f"/v1/cases/{api.ref(case_id, who)}", headers=api.auth(who))
        assert response.status_code == 404, who
        assert response.json() == {"detail": f"case {api.ref(case_id, who)} not found"}
        assert sorted(response.headers.keys()) == sorted(missing.headers.keys())
    shop2_case = (await api.opened(shop_id="shop-2"))["case_id"]
    response = await api.http.get(f"/v1/cases/{shop2_case}", headers=api.auth("shop1_system"))
    assert response.status_code == 404
    # An id that cannot exist is a 404 too, not a 422.
    response = await api.http.get("/v1/cases/" + "x" * 65, headers=api.auth("operator"))
    assert response.status_code == 404


async def test_a_case_is_read_from_the_event_store_never_by_querying_its_workflow(api):
    """``GET /v1/cases/{id}`` answers the view the worker recorded with the case's last change
    (``case_views``), not a workflow query: a query answered while a restarted worker or server
    hands out a workflow task has left histories that no longer replay (docs/reliability.md)."""
    case_id = uid()
    opened = await api.opened(case_id)
    approved = await api.ok(case_id, "approve", "staff")
    assert approved["version"] == opened["version"] + 1
    # The worker recorded the view in the same workflow task as the command, before answering it.
    read = await api.view(case_id)
    assert {k: v for k, v in read.items() if k != "next_actions"} == {
        k: v for k, v in approved.items() if k != "next_actions"}  # next_actions are each caller's own

    # A case that exists only in the store (no workflow at all) reads as stored: proof that
    # nothing asked Temporal.
    store = EventStore(api.settings.events_dsn)
    ghost = uid("ghost")
    stored = CaseView.model_validate(approved).model_copy(update={"case_id": ghost, "version": 41})
    try:
        store.record(EventBatch(case_key=case_workflow_id("shop-1", ghost), events=[],
                                summary=summary_of(stored), view=stored), datetime.now(UTC), timedelta(days=1))
    finally:
        store.close()
    read = await api.view(ghost)
    assert read["case_id"] == ghost and read["version"] == 41
    # And one with nothing stored is asked of Temporal, which knows no such case: 404.
    missing = await api.http.get(f"/v1/cases/shop-1:{uid('none')}", headers=api.auth("operator"))
    assert missing.status_code == 404, missing.text


def summary_of(view: CaseView) -> CaseSummary:
    return CaseSummary(case_key=case_workflow_id(view.shop_id, view.case_id), case_id=view.case_id,
                       shop_id=view.shop_id, buyer_id=view.buyer_id, order_id=view.order_id, type=view.type,
                       reason=view.reason, state=view.state, waiting_on=view.waiting_on, deadline=view.deadline,
                       deadline_kind=None, dispute_risk=view.dispute_risk, close_reason=view.close_reason,
                       currency=view.refund.currency, refund_amount=view.refund.amount, version=view.version,
                       updated_at=view.updated_at)
