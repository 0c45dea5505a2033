"""Outbound events end to end on the real dev server: the API, a worker, the dispatcher, and the
sandbox's event receiver over real HTTP.

Every case type's happy path reaches the receiver in order, each delivery verified with the
Standard Webhooks reference library; a receiver that fails for a while gets every event once it
recovers; the catch-up feed has every event; bad subscriptions are refused by field.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from casefeed.dispatch import Dispatcher, DispatchPolicy
from casefeed.signing import new_secret
from casefeed.store import EventStore
from sandbox.app import create_app as create_sandbox
from tests.api.conftest import Api, eventually, uid
from tests.support.serve import serve

FAST = DispatchPolicy(first_retry=timedelta(milliseconds=200), max_retry_interval=timedelta(seconds=1),
                      lease=timedelta(seconds=5), idle_sleep=0.05)


@dataclass
class Receiver:
    url: str
    http: httpx.AsyncClient
    secret: str

    async def configure(self, **config: Any) -> None:
        response = await self.http.put("/receiver/config", json={"secret": self.secret, **config})
        assert response.status_code == 200, response.text

    async def accepted(self, case_id: str) -> list[dict[str, Any]]:
        events = (await self.http.get("/receiver/events")).json()["accepted"]
        return [e for e in events if e["case_id"] == case_id]

    async def until_ended(self, case_id: str, within: float = 30) -> list[dict[str, Any]]:
        return await eventually(lambda: self.accepted(case_id),
                                lambda events: any(e["type"] == "case.ended" for e in events), within,
                                f"case.ended of {case_id} at the receiver")


@pytest.fixture(scope="module")
async def receiver(api: Api) -> AsyncIterator[Receiver]:
    """The sandbox's receiver subscribed to every event of shop-1, and a dispatcher delivering."""
    sandbox = create_sandbox()
    secret = new_secret()
    store = EventStore(os.environ["AFTERSALES_EVENTS_DSN"])
    async with serve(sandbox) as base, httpx.AsyncClient(base_url=base) as http, httpx.AsyncClient() as out:
        receiver = Receiver(f"{base}/receiver/events", http, secret)
        await receiver.configure()
        created = await api.http.post("/v1/subscriptions", headers=api.auth("shop1_system"),
                                      json={"url": receiver.url, "secret": secret, "types": ["*"]})
        assert created.status_code == 201, created.text
        dispatcher = asyncio.create_task(Dispatcher(store, out, FAST).run())
        try:
            yield receiver
        finally:
            dispatcher.cancel()
            await api.http.delete(f"/v1/subscriptions/{created.json()['id']}", headers=api.auth("operator"))
            store.close()


async def _refund_only(api: Api, case_id: str) -> None:
    await api.opened(case_id, type="refund_only", reason="changed_mind", order_kwargs={"shipped": False})
    await api.ok(case_id, "approve", "staff")


async def _returned(api: Api, case_id: str, type: str) -> None:
    await api.opened(case_id, type=type, reason="quality_issue")
    await api.ok(case_id, "approve", "staff")
    await api.ok(case_id, "submit_return_shipment", "buyer", {"carrier": "sf", "tracking_number": uid("SF")})
    await api.ok(case_id, "confirm_return_received", "staff")
    await api.ok(case_id, "record_inspection", "staff", {"passed": True, "responsibility": "product_defect"})


async def _return_refund(api: Api, case_id: str) -> None:
    await _returned(api, case_id, "return_refund")


async def _replacement(api: Api, case_id: str, type: str) -> None:
    await _returned(api, case_id, type)
    await api.ok(case_id, "ship_item", "staff", {"carrier": "sf", "tracking_number": uid("OUT")})
    await api.ok(case_id, "confirm_receipt", "buyer")


async def _exchange(api: Api, case_id: str) -> None:
    await _replacement(api, case_id, "exchange")


async def _repair(api: Api, case_id: str) -> None:
    await _replacement(api, case_id, "repair")


HAPPY_PATHS = {"refund_only": (_refund_only, "refunded"), "return_refund": (_return_refund, "refunded"),
               "exchange": (_exchange, "completed"), "repair": (_repair, "completed")}


@pytest.mark.parametrize("case_type", list(HAPPY_PATHS))
async def test_a_happy_path_arrives_in_order_and_validly_signed(api: Api, receiver: Receiver, case_type: str):
    drive, outcome = HAPPY_PATHS[case_type]
    case_id = uid(case_type[:2])
    await drive(api, case_id)
    final = await api.wait_for_state(case_id, outcome)

    events = await receiver.until_ended(case_id)
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))  # in order, none missing
    assert events[0]["type"] == "case.opened" and events[-1]["type"] == "case.ended"
    assert events[-1]["data"]["outcome"] == outcome
    assert events[-1]["version"] == final["version"]
    assert all(e["shop_id"] == "shop-1" for e in events)
    hook = Webhook(receiver.secret)
    for event in events:  # what an integrator's receiver does with the reference library
        assert hook.verify(event["raw"]["body"], event["raw"]["headers"])["id"] == event["id"]
    assert event["raw"]["headers"]["webhook-id"] == event["id"]
    with pytest.raises(Exception, match="(?i)signature"):
        Webhook(new_secret()).verify(events[0]["raw"]["body"], events[0]["raw"]["headers"])

    feed = (await api.http.get("/v1/events", params={"case_id": case_id}, headers=api.auth("operator"))).json()
    assert [item["event"]["id"] for item in feed["items"]] == [e["id"] for e in events]


async def test_a_receiver_that_fails_for_a_while_gets_every_event_once_it_recovers(api: Api, receiver: Receiver):
    await receiver.configure(fail_all=True, fail_status=503)
    case_id = uid("down")
    try:
        await _refund_only(api, case_id)
        await api.wait_for_state(case_id, "refunded")

        async def failing() -> list[dict[str, Any]]:
            response = await api.http.get("/v1/deliveries", params={"state": "pending", "limit": 1000},
                                          headers=api.auth("operator"))
            assert response.status_code == 200, response.text
            return [d for d in response.json() if d["case_key"].endswith(case_id)]

        stuck = await eventually(failing, lambda ds: any(d["attempts"] >= 2 for d in ds), 20,
                                 "retried deliveries visible to operators")
        head = min(stuck, key=lambda d: d["case_sequence"])
        assert head["case_sequence"] == 1 and head["last_status"] == 503 and "503" in head["last_error"]
    finally:
        await receiver.configure()  # recovered
    events = await receiver.until_ended(case_id)
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert not any(e["duplicate"] for e in events)


async def test_an_operator_sees_a_failed_delivery_and_retries_it(api: Api, receiver: Receiver):
    # A subscription of its own whose give-up time is already past after one failure.
    response = await api.http.post("/v1/subscriptions", headers=api.auth("operator"),
                                   json={"url": "http://127.0.0.1:9/nothing-listens", "secret": new_secret(),
                                         "types": ["case.opened"], "shop_id": "shop-1"})
    assert response.status_code == 201, response.text
    assert "secret" not in response.json()
    sub_id = response.json()["id"]
    try:
        store = EventStore(os.environ["AFTERSALES_EVENTS_DSN"])
        case_id = uid("dead")
        await api.opened(case_id)

        async def deliveries() -> list[dict[str, Any]]:
            r = await api.http.get("/v1/deliveries", params={"subscription_id": sub_id}, headers=api.auth("operator"))
            return [d for d in r.json() if d["case_key"].endswith(case_id)]

        (pending,) = await eventually(deliveries, lambda ds: len(ds) == 1 and ds[0]["attempts"] >= 1, 20,
                                      "a failed attempt")
        assert pending["last_error"]  # connection refused, said so
        # Its next attempt would come after its give-up time: the dispatcher gives up on it.
        store.attempt_failed(pending["id"], None, "gave up", datetime.now(UTC), datetime(2999, 1, 1, tzinfo=UTC))
        (failed,) = await deliveries()
        assert failed["state"] == "failed"
        forbidden = await api.http.post(f"/v1/deliveries/{failed['id']}/retry", headers=api.auth("shop1_system"))
        assert forbidden.status_code == 403
        retried = await api.http.post(f"/v1/deliveries/{failed['id']}/retry", headers=api.auth("operator"))
        assert retried.status_code == 200, retried.text
        assert retried.json()["state"] == "pending"
        store.close()
    finally:
        await api.http.delete(f"/v1/subscriptions/{sub_id}", headers=api.auth("operator"))


async def test_subscriptions_are_listed_by_scope_without_their_secrets(api: Api):
    secret = new_secret()
    mine = await api.http.post("/v1/subscriptions", headers=api.auth("shop1_system"),
                               json={"url": "https://erp.example/hooks", "secret": secret, "types": ["case.ended"]})
    assert mine.status_code == 201, mine.text
    other = await api.http.post("/v1/subscriptions", headers=api.auth("operator"),
                                json={"url": "https://x.example/", "secret": new_secret(), "types": ["*"],
                                      "shop_id": "shop-2"})
    try:
        listed = await api.http.get("/v1/subscriptions", headers=api.auth("shop1_system"))
        assert listed.status_code == 200, listed.text
        ids = [s["id"] for s in listed.json()]
        assert mine.json()["id"] in ids and other.json()["id"] not in ids
        assert all(s["shop_id"] == "shop-1" for s in listed.json())
        assert secret not in listed.text and "secret" not in listed.json()[0]
        everything = await api.http.get("/v1/subscriptions", headers=api.auth("operator"))
        assert {mine.json()["id"], other.json()["id"]} <= {s["id"] for s in everything.json()}
        # Another shop's subscription is not there for this shop's backend.
        hidden = await api.http.get(f"/v1/subscriptions/{other.json()['id']}", headers=api.auth("shop1_system"))
        assert hidden.status_code == 404
    finally:
        for created in (mine, other):
            await api.http.delete(f"/v1/subscriptions/{created.json()['id']}", headers=api.auth("operator"))


@pytest.mark.parametrize(("who", "body", "status", "field"), [
    ("operator", {"url": "ftp://x", "types": ["*"]}, 422, "url"),
    ("operator", {"url": "http://x/hook", "types": ["case.exploded"]}, 422, "types"),
    ("operator", {"url": "http://x/hook", "types": ["*"], "secret": "hunter2"}, 422, "secret"),
    ("shop1_system", {"url": "http://x/hook", "types": ["*"], "shop_id": "shop-2"}, 403, "shop_id"),
    ("shop1_system", {"url": "http://x/hook", "types": ["*"], "shop_id": None}, 403, "shop_id"),
    ("staff", {"url": "http://x/hook", "types": ["*"]}, 403, None),
])
async def test_a_bad_subscription_is_refused_naming_the_field(api: Api, who: str, body: dict, status: int,
                                                              field: str | None):
    body = {"secret": new_secret(), **body}
    response = await api.http.post("/v1/subscriptions", headers=api.auth(who), json=body)
    assert response.status_code == status, response.text
    if field:
        assert field in [e["field"] for e in response.json().get("errors", [])], response.text
        assert field in response.json()["detail"]
    assert body["secret"] not in response.text


async def test_the_feed_refuses_a_case_id_that_is_no_id(api: Api):
    """Found by the schema fuzzer: ``case_id={}``, and case_id given three times, were answered 200."""
    for bad in ("{}", "shop-1:c-1", "x" * 65):
        response = await api.http.get("/v1/events", params={"case_id": bad}, headers=api.auth("operator"))
        assert response.status_code == 422, (bad, response.text)
        assert "case_id" in response.text
    twice = await api.http.get("/v1/events", params={"case_id": ["c-1", "c-2"]}, headers=api.auth("operator"))
    assert twice.status_code == 422 and "case_id" in twice.text  # not quietly the last one
    ok = await api.http.get("/v1/events", params={"case_id": "c-1"}, headers=api.auth("operator"))
    assert ok.status_code == 200
