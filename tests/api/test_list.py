"""Listing from Temporal visibility: filters, pagination, shop scoping, safe query values.

Every case here belongs to a shop no other test uses; visibility is eventually consistent, so
the first read waits until all of them are listed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import LIST_SHOP


def ids(page) -> set[str]:
    return {item["case_id"] for item in page["items"]}


@pytest.fixture(scope="module")
async def listed(api):
    """Three cases of ``LIST_SHOP``: two awaiting the merchant, one approved (waiting on the buyer)."""
    return_a = (await api.opened(shop_id=LIST_SHOP, buyer_id="list-buyer"))["case_id"]
    return_b = (await api.opened(shop_id=LIST_SHOP, buyer_id="list-buyer"))["case_id"]
    refund = (await api.opened(shop_id=LIST_SHOP, buyer_id="list-buyer", type="refund_only", reason="quality_issue"))[
        "case_id"
    ]
    await api.ok(return_b, "approve", "list_staff")
    everything = {return_a, return_b, refund}
    await api.wait_listed(
        "list_staff",
        lambda p: (
            ids(p) == everything
            and all(
                i["state"] == ("awaiting_return_shipment" if i["case_id"] == return_b else "awaiting_merchant_decision")
                for i in p["items"]
            )
        ),
    )
    return {"return_a": return_a, "return_b": return_b, "refund": refund, "all": everything}


async def test_rows_come_from_the_search_attributes(api, listed):
    page = (await api.list("list_staff")).json()
    row = next(i for i in page["items"] if i["case_id"] == listed["return_b"])
    view = await api.view(listed["return_b"])
    assert row["state"] == view["state"] == "awaiting_return_shipment"
    assert row["type"] == "return_refund" and row["shop_id"] == LIST_SHOP and row["buyer_id"] == "list-buyer"
    assert row["order_id"] == view["order_id"]
    assert row["waiting_on"] == "buyer"
    assert datetime.fromisoformat(row["deadline"]) == datetime.fromisoformat(view["deadline"])
    assert row["dispute_risk"] is False and row["running"] is True
    assert page["next_page_token"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "awaiting_merchant_decision"}, {"return_a", "refund"}),
        ({"state": ["awaiting_merchant_decision", "awaiting_return_shipment"]}, {"return_a", "return_b", "refund"}),
        ({"state": "refunded"}, set()),
        ({"waiting_on": "buyer"}, {"return_b"}),
        ({"waiting_on": "merchant", "type": "return_refund"}, {"return_a"}),
        ({"type": "refund_only"}, {"refund"}),
        ({"dispute_risk": "false"}, {"return_a", "return_b", "refund"}),
        ({"dispute_risk": "true"}, set()),
        ({"buyer_id": "list-buyer", "state": "awaiting_return_shipment"}, {"return_b"}),
        ({"deadline_before": (datetime.now(UTC) + timedelta(days=30)).isoformat()}, {"return_a", "return_b", "refund"}),
        ({"deadline_before": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()}, set()),
        ({"deadline_before": "2030-01-01T08:00:00+08:00"}, {"return_a", "return_b", "refund"}),
    ],
)
async def test_filters(api, listed, params, expected):
    response = await api.list("list_staff", **params)
    assert response.status_code == 200, response.text
    assert ids(response.json()) == {listed[name] for name in expected}


async def test_order_id_filter(api, listed):
    order_id = (await api.view(listed["refund"]))["order_id"]
    assert ids((await api.list("platform", order_id=order_id)).json()) == {listed["refund"]}


async def test_pages(api, listed):
    first = (await api.list("list_staff", page_size=2)).json()
    assert len(first["items"]) == 2 and first["next_page_token"]
    second = (await api.list("list_staff", page_size=2, page_token=first["next_page_token"])).json()
    assert len(second["items"]) == 1
    assert ids(first) | ids(second) == listed["all"]
    # The name the response uses is accepted as the parameter too.
    again = (await api.list("list_staff", page_size=2, next_page_token=first["next_page_token"])).json()
    assert ids(again) == ids(second)
    response = await api.list("list_staff", page_token="!!not-a-token!!")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "page_token"


async def test_staff_see_their_own_shop_only(api, listed):
    # Other shops' staff do not see these cases, and cannot ask for them.
    assert not ids((await api.list("staff")).json()) & listed["all"]
    response = await api.list("staff", shop_id=LIST_SHOP)
    assert response.status_code == 403
    assert (await api.list("list_staff", shop_id=LIST_SHOP)).status_code == 200
    # The platform and operators list any shop.
    for who in ("platform", "operator"):
        assert ids((await api.list(who, shop_id=LIST_SHOP)).json()) == listed["all"]


async def test_a_buyer_lists_their_own_cases_only(api, listed):
    # Every case of list-buyer, whichever shop; nobody else's.
    mine = await api.list("list_buyer")
    assert mine.status_code == 200, mine.text
    assert ids(mine.json()) == listed["all"]
    assert {i["buyer_id"] for i in mine.json()["items"]} == {"list-buyer"}
    # Filters narrow their own list; naming themselves is allowed, naming another buyer is not.
    assert ids((await api.list("list_buyer", type="refund_only")).json()) == {listed["refund"]}
    assert ids((await api.list("list_buyer", buyer_id="list-buyer", waiting_on="buyer")).json()) == {listed["return_b"]}
    response = await api.list("list_buyer", buyer_id="buyer-1")
    assert response.status_code == 403
    assert "list-buyer lists their own cases only" in response.json()["detail"]
    # Another buyer does not see them, even asking by shop.
    assert not ids((await api.list("buyer", shop_id=LIST_SHOP)).json()) & listed["all"]


async def test_systems_do_not_list(api):
    response = await api.list("system")
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"shop_id": "x' OR ShopId = 'shop-1"}, "shop_id"),
        ({"buyer_id": 'a"b'}, "buyer_id"),
        ({"tracking_number": "back\\slash"}, "tracking_number"),
        ({"order_id": "new\nline"}, "order_id"),
        ({"state": "lost"}, "state.0"),
        ({"waiting_on": "godot"}, "waiting_on"),
        ({"deadline_before": "2030-01-01T00:00:00"}, "deadline_before"),
        ({"deadline_before": "tomorrow"}, "deadline_before"),
        ({"dispute_risk": "maybe"}, "dispute_risk"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1000}, "page_size"),
        ({"shop_id": "s" * 65}, "shop_id"),
    ],
)
async def test_bad_filters_are_422_and_never_reach_the_query(api, params, field):
    response = await api.list("platform", **params)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_a_filter_value_cannot_widen_the_query(api, listed):
    # Quotes are refused outright; a value made of allowed characters is only ever a literal.
    for value in (f"{LIST_SHOP} OR WorkflowType", "shop-#1", "a/b:c@d+e.f", "店铺 一"):
        response = await api.list("platform", shop_id=value)
        assert response.status_code == 200, value
        assert response.json()["items"] == []


async def test_a_page_token_only_continues_the_list_it_came_from(api, listed):
    first = (await api.list("list_staff", page_size=1)).json()
    assert first["next_page_token"]
    response = await api.list("list_staff", page_size=1, page_token=first["next_page_token"], type="refund_only")
    assert response.status_code == 422
    forged = first["next_page_token"][:-4] + ("AAAA" if not first["next_page_token"].endswith("AAAA") else "BBBB")
    response = await api.list("list_staff", page_size=1, page_token=forged)
    assert response.status_code == 422
