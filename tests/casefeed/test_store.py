"""The event store on its own: idempotent recording, the gap-free feed, per-case delivery order,
backoff until the give-up time, and an operator's retry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from casefeed.events import CaseEvent, CaseSummary, EventBatch, EventType
from casefeed.store import EventStore, Subscription

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def batch(case: str, sequences: list[int], shop: str = "shop-1", state: str = "awaiting_merchant_decision") -> EventBatch:
    events = [CaseEvent(id=f"evt-{case}-{n}", type=EventType.CASE_UPDATED, case_id=case, shop_id=shop, version=n,
                        sequence=n, occurred_at=T0, data={"n": n}) for n in sequences]
    summary = CaseSummary(case_key=f"case-{case}", case_id=case, shop_id=shop, buyer_id="b", order_id="o",
                          type="refund_only", reason="other", state=state, waiting_on="merchant", deadline=T0,
                          deadline_kind="merchant_decision", dispute_risk=False, close_reason=None, currency="CNY",
                          refund_amount=100, version=sequences[-1], updated_at=T0)
    return EventBatch(case_key=f"case-{case}", events=events, summary=summary)


def subscribe(store: EventStore, sub_id: str = "s1", shop: str | None = "shop-1", types: tuple[str, ...] = ("*",)):
    store.put_subscription(Subscription(id=sub_id, shop_id=shop, url="http://x/hook", secret="whsec_x", types=types,
                                        source="api", created_at=T0))


@pytest.fixture
def store(tmp_path) -> EventStore:
    return EventStore(f"sqlite:///{tmp_path}/events.db")


def test_a_retried_batch_stores_nothing_twice(store):
    subscribe(store)
    assert store.record(batch("a", [1, 2]), T0, timedelta(days=3)) == 2
    assert store.record(batch("a", [1, 2]), T0, timedelta(days=3)) == 0
    assert [e.sequence for _, e in store.events_after(0, 100)] == [1, 2]
    assert len(store.deliveries(every_shop=True)) == 2


def test_the_feed_pages_by_cursor_without_gaps_and_the_read_model_keeps_the_newest(store):
    store.record(batch("a", [1]), T0, timedelta(days=3))
    store.record(batch("b", [1, 2], shop="shop-2"), T0, timedelta(days=3))
    store.record(batch("a", [2, 3], state="refunded"), T0, timedelta(days=3))
    first = store.events_after(0, 2)
    rest = store.events_after(first[-1][0], 100)
    assert [(e.case_id, e.sequence) for _, e in first + rest] == [("a", 1), ("b", 1), ("b", 2), ("a", 2), ("a", 3)]
    assert [e.case_id for _, e in store.events_after(0, 100, shop_id="shop-2")] == ["b", "b"]
    changed = store.cases_changed_after(0, 100)
    assert [(c["case_id"], c["state"], c["version"]) for c in changed] == [("b", "awaiting_merchant_decision", 2),
                                                                         ("a", "refunded", 3)]
    # An older batch arriving late (a retried activity) never rolls the row back.
    store.record(batch("a", [1, 2, 3, 4]), T0, timedelta(days=3))
    assert store.cases_changed_after(0, 100)[-1]["version"] == 4


def test_subscriptions_match_by_shop_and_type(store):
    subscribe(store, "shop1-all", "shop-1")
    subscribe(store, "platform-ended", None, ("case.ended",))
    subscribe(store, "shop2", "shop-2")
    store.record(batch("a", [1]), T0, timedelta(days=3))
    assert [d.subscription_id for d in store.deliveries(every_shop=True)] == ["shop1-all"]


def test_only_the_first_pending_event_of_a_case_is_due_and_a_lease_keeps_it_from_others(store):
    subscribe(store)
    store.record(batch("a", [1, 2, 3]), T0, timedelta(days=3))
    store.record(batch("b", [1]), T0, timedelta(days=3))
    due = store.claim_due(T0, LEASE, 10)
    assert [(d.case_key, d.case_sequence) for d in due] == [("case-a", 1), ("case-b", 1)]
    assert store.claim_due(T0, LEASE, 10) == []  # leased
    store.delivered(due[0].id, 204, T0)
    assert [(d.case_key, d.case_sequence) for d in store.claim_due(T0, LEASE, 10)] == [("case-a", 2)]
    # A dispatcher that died holding a lease: the delivery is due again once the lease runs out.
    assert [(d.case_key, d.case_sequence) for d in store.claim_due(T0 + LEASE, LEASE, 10)] == [
        ("case-a", 2), ("case-b", 1)]


def test_a_failing_delivery_backs_off_then_fails_visibly_and_an_operator_retry_makes_it_due(store):
    subscribe(store)
    store.record(batch("a", [1, 2]), T0, timedelta(hours=1))
    (first,) = store.claim_due(T0, LEASE, 10)
    assert store.attempt_failed(first.id, 503, "HTTP 503", T0, T0 + timedelta(minutes=10)) == "pending"
    assert store.claim_due(T0 + timedelta(minutes=5), LEASE, 10) == []  # backing off; #2 waits behind it
    (again,) = store.claim_due(T0 + timedelta(minutes=10), LEASE, 10)
    assert again.id == first.id and again.attempts == 1
    assert store.attempt_failed(first.id, None, "ConnectTimeout", T0, T0 + timedelta(hours=2)) == "failed"
    failed = store.deliveries(state="failed", every_shop=True)
    assert [(d.id, d.attempts, d.last_error) for d in failed] == [(first.id, 2, "ConnectTimeout")]
    # Given up on, it no longer holds back the case's next event.
    assert [d.case_sequence for d in store.claim_due(T0 + timedelta(hours=2), LEASE, 10)] == [2]
    assert store.retry(first.id, T0 + timedelta(hours=3), timedelta(hours=1))
    assert store.delivery(first.id).state == "pending"


def test_configured_subscriptions_are_validated_and_replace_by_id(store, tmp_path):
    from casefeed.signing import new_secret
    from casefeed.subscriptions import apply_config

    path = tmp_path / "subs.json"
    good = {"id": "erp", "shop_id": "shop-1", "url": "https://erp.example/hooks", "secret": new_secret(),
            "types": ["case.ended", "case.refund_paid"]}
    path.write_text(json.dumps([good]))
    assert apply_config(store, str(path)) == 1
    path.write_text(json.dumps([{**good, "types": ["*"]}]))
    apply_config(store, str(path))
    (sub,) = store.subscriptions(every_shop=True)
    assert (sub.id, sub.types, sub.source) == ("erp", ("*",), "config")
    path.write_text(json.dumps([{**good, "types": ["case.nope"]}]))
    with pytest.raises(ValueError, match="(?s)erp.*types.*case.nope"):
        apply_config(store, str(path))


def test_a_committed_batch_replaces_an_event_numbered_by_a_task_never_committed(store):
    """A recording from inside a workflow task stored sequence 2 (a reminder); that task was never
    committed, and its retry ran a command first, which took sequence 2. The command's answer
    (committed) replaces the stale event and sends it again; a recording from inside a task never
    replaces anything."""
    subscribe(store)
    store.record(batch("a", [1, 2]), T0, timedelta(days=3))
    (reminder,) = [d for d in store.deliveries(every_shop=True) if d.case_sequence == 2]
    store.delivered(reminder.id, 204, T0)
    assert store.delivery(reminder.id).state == "delivered"
    command = batch("a", [2])
    command = command.model_copy(update={"events": [command.events[0].model_copy(update={"id": "evt-command"})]})

    assert store.record(command, T0, timedelta(days=3)) == 0  # from inside a task: kept as it was
    assert [e.id for _, e in store.events_after(0, 100)] == ["evt-a-1", "evt-a-2"]

    store.record(command, T0 + timedelta(seconds=1), timedelta(days=3), committed=True)
    assert [e.id for _, e in store.events_after(0, 100)] == ["evt-a-1", "evt-command"]
    (again,) = [d for d in store.deliveries(every_shop=True) if d.case_sequence == 2]
    assert (again.event_id, again.state, again.attempts) == ("evt-command", "pending", 0)
    # The same committed batch again changes nothing.
    store.record(command, T0 + timedelta(seconds=2), timedelta(days=3), committed=True)
    assert [e.id for _, e in store.events_after(0, 100)] == ["evt-a-1", "evt-command"]
