"""The HTTP client against a MockTransport: requests it sends, answers and errors it returns."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from aftersales_client import AfterSalesClient, ApiError, AsyncAfterSalesClient
from tests.cli.fake_api import FakeApi, case_view
from tests.support.factory import request as case_request


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def client(api: FakeApi, token: str | None = "tok-alice") -> AfterSalesClient:
    return AfterSalesClient("http://api.test/", token, transport=api.transport())


def test_get_case_sends_the_bearer_token_and_returns_the_view(api: FakeApi) -> None:
    api.on("GET", "/v1/cases/c-1", httpx.Response(200, json=case_view()))
    with client(api) as c:
        view = c.get_case("c-1")
    assert view["state"] == "awaiting_merchant_decision"
    assert api.last.headers["Authorization"] == "Bearer tok-alice"
    assert str(api.last.url) == "http://api.test/v1/cases/c-1"


def test_base_url_may_end_with_v1(api: FakeApi) -> None:
    api.on("GET", "/v1/cases/c-1", httpx.Response(200, json=case_view()))
    with AfterSalesClient("http://api.test/v1", "t", transport=api.transport()) as c:
        c.get_case("c-1")
    assert api.last.url.path == "/v1/cases/c-1"


def test_open_case_tells_a_new_case_from_an_identical_retry(api: FakeApi) -> None:
    request = case_request(datetime(2030, 1, 1, tzinfo=UTC), "c-9")
    answers = iter([httpx.Response(201, json=case_view("c-9")), httpx.Response(200, json=case_view("c-9"))])
    api.on("POST", "/v1/cases", lambda r: next(answers))
    with client(api) as c:
        first = c.open_case(request)  # a pydantic CaseRequest ...
        again = c.open_case(request.model_dump(mode="json"))  # ... or a plain dict
    assert (first["created"], again["created"]) == (True, False)
    body = json.loads(api.requests[0].content)
    assert body["case_id"] == "c-9" and body["order"]["currency"] == "CNY"
    assert "description" not in body  # a model's None fields are left out, not sent as null


def test_act_posts_the_payload_with_expected_version_and_underscored_action(api: FakeApi) -> None:
    api.on(
        "POST",
        "/v1/cases/c-1/offer_partial_refund",
        httpx.Response(200, json=case_view(state="awaiting_buyer_response", version=4)),
    )
    with client(api) as c:
        view = c.act("c-1", "offer-partial-refund", amount=500, note="keep it", evidence=None, expected_version=3)
    assert view["version"] == 4
    assert api.last_json() == {"amount": 500, "note": "keep it", "expected_version": 3}


def test_a_refusal_raises_api_error_with_the_servers_message(api: FakeApi) -> None:
    body = {
        "detail": "case c-1 is refunded; approve is not possible there",
        "kind": "WrongState",
        "state": "refunded",
        "allowed_actions": ["add_note"],
    }
    api.on("POST", "/v1/cases/c-1/approve", httpx.Response(409, json=body))
    with client(api) as c, pytest.raises(ApiError) as caught:
        c.act("c-1", "approve")
    err = caught.value
    assert err.status == 409
    assert err.detail == body["detail"]
    assert err.body == body
    assert err.info["allowed_actions"] == ["add_note"]
    assert "409" in str(err) and "refunded" in str(err)


def test_fastapi_validation_lists_become_one_line(api: FakeApi) -> None:
    detail = [
        {"loc": ["body", "amount"], "msg": "Input should be greater than 0"},
        {"loc": ["query", "state"], "msg": "bad value"},
    ]
    api.on("GET", "/v1/cases", httpx.Response(422, json={"detail": detail}))
    with client(api) as c, pytest.raises(ApiError) as caught:
        c.list_cases()
    assert caught.value.detail == "amount: Input should be greater than 0; query.state: bad value"


def test_a_non_json_error_keeps_its_text(api: FakeApi) -> None:
    api.on("GET", "/v1/cases/c-1", httpx.Response(502, text="Bad Gateway from the proxy"))
    with client(api) as c, pytest.raises(ApiError) as caught:
        c.get_case("c-1")
    assert (caught.value.status, caught.value.detail) == (502, "Bad Gateway from the proxy")


def test_list_cases_follows_the_pages_and_sends_the_filters(api: FakeApi) -> None:
    pages = {
        None: {"items": [{"case_id": "a"}, {"case_id": "b"}], "next_page_token": "p2"},
        "p2": {"items": [{"case_id": "c"}], "next_page_token": None},
    }
    api.on("GET", "/v1/cases", lambda r: httpx.Response(200, json=pages[r.url.params.get("page_token")]))
    with client(api) as c:
        cases = c.list_cases(
            state="awaiting_inspection",
            shop_id="shop-1",
            dispute_risk=True,
            deadline_before=datetime(2030, 1, 2, tzinfo=UTC),
            waiting_on=None,
        )
    assert [v["case_id"] for v in cases] == ["a", "b", "c"]
    first, second = api.requests
    assert dict(first.url.params) == {
        "state": "awaiting_inspection",
        "shop_id": "shop-1",
        "dispute_risk": "true",
        "deadline_before": "2030-01-02T00:00:00+00:00",
    }
    assert second.url.params["page_token"] == "p2" and second.url.params["state"] == "awaiting_inspection"


def test_no_token_sends_no_authorization_header(api: FakeApi) -> None:
    api.on("GET", "/v1/cases/c-1", httpx.Response(401, json={"detail": "missing bearer token"}))
    with client(api, token=None) as c, pytest.raises(ApiError) as caught:
        c.get_case("c-1")
    assert "Authorization" not in api.last.headers
    assert caught.value.status == 401


async def test_async_client_does_the_same(api: FakeApi) -> None:
    pages = {None: {"items": [{"case_id": "a"}], "next_page_token": "p2"}, "p2": {"items": [{"case_id": "b"}]}}
    api.on("GET", "/v1/cases", lambda r: httpx.Response(200, json=pages[r.url.params.get("page_token")]))
    api.on("POST", "/v1/cases", httpx.Response(201, json={"case_id": "c-1"}))
    api.on("POST", "/v1/cases/c-1/reject", httpx.Response(403, json={"detail": "a buyer may not reject"}))
    async with AsyncAfterSalesClient("http://api.test", "t", transport=api.async_transport()) as c:
        assert [v["case_id"] for v in await c.list_cases()] == ["a", "b"]
        assert (await c.open_case({"case_id": "c-1"}))["created"] is True
        with pytest.raises(ApiError) as caught:
            await c.act("c-1", "reject", reason="no")
    assert caught.value.status == 403 and caught.value.detail == "a buyer may not reject"
