"""Catch-up without a gap: ``GET /v1/cases?updated_after=`` answers from the event store's read
model, which the case writes in the step that changes it, so a case changed a moment ago is
listed at once (no waiting for visibility to index it), with its newest state and version; the
page's ``cursor`` continues on the feed ``/v1/events/cases?after=``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import uid


def since(at: datetime) -> str:
    return at.isoformat()


async def changed(api, who: str, after: datetime, **params) -> dict:
    response = await api.list(who, updated_after=since(after), **params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_every_changed_case_is_listed_immediately_with_its_new_state(api):
    buyer = uid("catchup")
    before_opening = datetime.now(UTC)
    opened = [(await api.opened(buyer_id=buyer))["case_id"] for _ in range(3)]
    # No sleep: the read model is written before the command's answer.
    page = await changed(api, "operator", before_opening, buyer_id=buyer)
    assert [i["case_id"] for i in page["items"]] == opened  # in the order they changed

    before_changes = datetime.now(UTC)
    views = {case_id: await api.ok(case_id, "approve", "staff") for case_id in opened[:2]}
    page = await changed(api, "operator", before_changes, buyer_id=buyer)
    assert {i["case_id"] for i in page["items"]} == set(opened[:2])
    for item in page["items"]:
        view = views[item["case_id"]]
        assert (item["state"], item["version"]) == (view["state"], view["version"]) == ("awaiting_return_shipment",
                                                                                          view["version"])
        assert item["waiting_on"] == "buyer" and item["shop_id"] == "shop-1" and item["running"] is None
        assert datetime.fromisoformat(item["updated_at"]) > before_changes
        assert datetime.fromisoformat(item["opened_at"]) < before_changes
    # Staff see it in their shop; another shop's staff do not.
    assert {i["case_id"] for i in (await changed(api, "staff", before_changes, buyer_id=buyer))["items"]} == set(
        opened[:2])
    assert (await changed(api, "other_staff", before_opening, buyer_id=buyer))["items"] == []
    # Filters apply as in the visibility list.
    page = await changed(api, "operator", before_opening, buyer_id=buyer, state="awaiting_merchant_decision")
    assert [i["case_id"] for i in page["items"]] == opened[2:]


async def test_paging_never_skips_and_the_cursor_continues_on_the_feed(api):
    buyer = uid("catchup")
    start = datetime.now(UTC)
    opened = [(await api.opened(buyer_id=buyer))["case_id"] for _ in range(3)]
    first = await changed(api, "operator", start, buyer_id=buyer, page_size=1)
    # The first case changes while we page: it moves behind our position and comes again.
    await api.ok(opened[0], "approve", "staff")
    seen, page = [i["case_id"] for i in first["items"]], first
    while page["next_page_token"]:
        page = await changed(api, "operator", start, buyer_id=buyer, page_size=1, page_token=page["next_page_token"])
        seen += [i["case_id"] for i in page["items"]]
    assert seen == [opened[0], opened[1], opened[2], opened[0]]
    assert page["cursor"] is not None

    # From the last page's cursor, the feed has exactly what changed afterwards.
    await api.ok(opened[1], "approve", "staff")
    feed = await api.http.get("/v1/events/cases", params={"after": page["cursor"], "limit": 1000},
                              headers=api.auth("operator"))
    assert feed.status_code == 200, feed.text
    ours = [c["case_id"] for c in feed.json()["cases"] if c["buyer_id"] == buyer]
    assert ours == [opened[1]]


async def test_bad_catch_up_requests_are_422_naming_the_field(api):
    now = datetime.now(UTC)
    cases = [
        ({"updated_after": "2026-01-01T00:00:00"}, "updated_after"),  # no offset
        ({"updated_after": since(now), "tracking_number": "SF1"}, "tracking_number"),
        ({"updated_after": since(now), "page_token": "not-a-token"}, "page_token"),
        ({"updated_after": since(now - timedelta(days=1)), "page_token": "c"}, "page_token"),
    ]
    for params, field in cases:
        response = await api.list("operator", **params)
        assert response.status_code == 422, (params, response.text)
        assert field in response.text, (params, response.text)
