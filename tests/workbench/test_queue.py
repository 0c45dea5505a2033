"""The queues straight from the read model: a shop's cases waiting on it, nearest deadline first,
and nobody else's; the supervisor's and the platform's queues; filters and pages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from casefeed.events import EventType
from casefeed.queue import Queue, QueueFilter, QueueReader
from casefeed.store import EventStore
from tests.workbench.rows import put

H = timedelta(hours=1)


@pytest.fixture
def dsn(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/events.db"


@pytest.fixture
def store(dsn: str) -> EventStore:
    return EventStore(dsn)


@pytest.fixture
def reader(dsn: str, store: EventStore) -> QueueReader:
    return QueueReader(dsn)


def ids(page) -> list[str]:  # noqa: ANN001
    return [r.case_id for r in page.rows]


def test_a_shops_queue_is_its_cases_waiting_on_it_nearest_deadline_first(store: EventStore, reader: QueueReader):
    put(store, "later", due_in=30 * H)
    put(store, "soonest", due_in=1 * H)
    put(store, "middle", due_in=5 * H, state="awaiting_inspection", deadline_kind="merchant_inspection")
    put(store, "no-deadline", due_in=None, state="needs_attention")
    put(store, "buyers-turn", due_in=2 * H, state="awaiting_buyer_response", waiting_on="buyer")
    put(store, "ended", due_in=None, state="refunded", waiting_on=None)
    put(store, "theirs", shop="shop-2", due_in=0.5 * H)

    page = reader.page(Queue.WAITING, shop_id="shop-1")
    assert ids(page) == ["soonest", "middle", "later", "no-deadline"]
    assert page.total == 4
    assert ids(reader.page(Queue.WAITING, shop_id="shop-2")) == ["theirs"]
    with pytest.raises(ValueError, match="shop_id"):
        reader.page(Queue.WAITING)


def test_filters_and_pages(store: EventStore, reader: QueueReader):
    for n in range(7):
        put(store, f"c{n}", due_in=(n + 1) * H, type="return_refund" if n % 2 else "refund_only",
            reason="wrong_item" if n < 3 else "quality_issue", dispute_risk=n == 6)
    first = reader.page(Queue.WAITING, shop_id="shop-1", page=1, page_size=3)
    third = reader.page(Queue.WAITING, shop_id="shop-1", page=3, page_size=3)
    assert (ids(first), ids(third), first.total, first.pages) == (["c0", "c1", "c2"], ["c6"], 7, 3)
    assert ids(reader.page(Queue.WAITING, shop_id="shop-1", flt=QueueFilter(type="return_refund"))) == ["c1", "c3", "c5"]
    assert ids(reader.page(Queue.WAITING, shop_id="shop-1", flt=QueueFilter(reason="wrong_item"))) == ["c0", "c1", "c2"]
    assert ids(reader.page(Queue.WAITING, shop_id="shop-1", flt=QueueFilter(dispute_risk=True))) == ["c6"]
    assert ids(reader.page(Queue.WAITING, shop_id="shop-1",
                           flt=QueueFilter(states=("awaiting_inspection",)))) == []


def test_the_supervisors_queues_over_limit_attention_with_the_reason_and_dispute_risk(store: EventStore,
                                                                                      reader: QueueReader):
    put(store, "small", refund=10_000)
    put(store, "big", refund=60_000, due_in=20 * H)
    put(store, "big-exchange", refund=60_000, type="exchange")  # an exchange's approval pays nothing
    put(store, "stuck", state="needs_attention", deadline_kind="needs_attention_followup",
        event=(EventType.NEEDS_ATTENTION, {"reason": "payment refused: account closed"}))
    put(store, "risky", state="awaiting_buyer_response", waiting_on="buyer", dispute_risk=True)

    over = reader.page(Queue.OVER_LIMIT, shop_id="shop-1", staff_limit=50_000,
                       count=(Queue.WAITING, Queue.OVER_LIMIT, Queue.ATTENTION, Queue.DISPUTE))
    assert ids(over) == ["big"]
    assert over.counts == {"waiting": 4, "over_limit": 1, "attention": 1, "dispute": 1}
    attention = reader.page(Queue.ATTENTION, shop_id="shop-1")
    assert [(r.case_id, r.needs_attention_reason) for r in attention.rows] == [
        ("stuck", "payment refused: account closed")]
    assert ids(reader.page(Queue.DISPUTE, shop_id="shop-1")) == ["risky"]  # waits on the buyer, still the shop's worry


def test_the_platforms_queue_is_every_shops_escalations(store: EventStore, reader: QueueReader):
    put(store, "a", state="in_arbitration", waiting_on="platform", deadline_kind="platform_decision", due_in=9 * H)
    put(store, "b", shop="shop-2", state="in_arbitration", waiting_on="platform", deadline_kind="platform_decision",
        due_in=3 * H)
    put(store, "c", due_in=1 * H)
    page = reader.page(Queue.ESCALATED)
    assert [(r.shop_id, r.case_id) for r in page.rows] == [("shop-2", "b"), ("shop-1", "a")]
