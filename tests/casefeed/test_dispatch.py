"""The dispatcher's round on its own (httpx.MockTransport as the receiver): what it sends and how it
stores the outcomes, one transaction per round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from casefeed import signing
from casefeed.dispatch import Dispatcher, DispatchPolicy
from casefeed.store import EventStore, Subscription
from tests.casefeed.test_store import batch


@pytest.fixture
def store(tmp_path) -> EventStore:
    return EventStore(f"sqlite:///{tmp_path}/events.db")


async def test_a_round_stores_each_outcome_and_a_failure_backs_off_without_holding_up_other_cases(store):
    store.put_subscription(Subscription(id="s1", shop_id="shop-1", url="http://receiver/hook",
                                        secret=signing.new_secret(), types=("*",), source="api",
                                        created_at=datetime.now(UTC)))
    store.record(batch("a", [1, 2]), datetime.now(UTC), timedelta(days=3))
    store.record(batch("b", [1]), datetime.now(UTC), timedelta(days=3))
    sent: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["webhook-id"])
        return httpx.Response(503 if request.headers["webhook-id"] == "evt-b-1" else 204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        dispatcher = Dispatcher(store, http, DispatchPolicy(first_retry=timedelta(minutes=5)))
        assert await dispatcher.run_once() == 2  # the head of each case's queue
        assert sorted(sent) == ["evt-a-1", "evt-b-1"]
        assert await dispatcher.run_once() == 1  # a's next; b backs off
        assert sent[-1] == "evt-a-2"
        assert await dispatcher.run_once() == 0

    by_event = {d.event_id: d for d in store.deliveries(every_shop=True)}
    assert by_event["evt-a-1"].state == by_event["evt-a-2"].state == "delivered"
    failed = by_event["evt-b-1"]
    assert (failed.state, failed.attempts, failed.last_status, failed.last_error) == ("pending", 1, 503, "HTTP 503: ")
    assert failed.next_attempt_at - datetime.now(UTC) > timedelta(minutes=4)
