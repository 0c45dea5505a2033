"""The harness's event check fails when it should: a delivery the receiver lost is ``missing 1``,
events acknowledged in the wrong order are out of order, and redeliveries are only duplicates."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from faults.events import EventsCheck, compare, report_lines
from sandbox.app import create_app


def stored(case_id: str, count: int, shop_id: str = "shop-1") -> list[dict[str, Any]]:
    return [{"id": f"evt_{case_id}_{n}", "type": "case.updated", "case_id": case_id, "shop_id": shop_id,
             "version": n, "sequence": n, "occurred_at": "2026-01-01T00:00:00Z", "data": {}}
            for n in range(1, count + 1)]


def test_every_event_once_in_order_passes_and_redeliveries_are_duplicates():
    a, b = stored("a", 3), stored("b", 2)
    # Cases interleave freely; a redelivery of an older event after a newer one is a duplicate.
    received = [a[0], b[0], a[1], a[0], b[1], a[2], a[2]]
    check = EventsCheck(cases=compare(a + b, received))
    assert check.ok
    assert (check.total("expected"), check.total("delivered"), check.total("duplicates")) == (5, 5, 2)
    assert check.total("missing") == check.total("out_of_order") == 0


def test_a_lost_delivery_is_missing_and_fails_the_check():
    a = stored("a", 3)
    check = EventsCheck(cases=compare(a, [a[0], a[2]]))
    assert not check.ok
    assert check.cases["shop-1:a"].missing == 1 and check.cases["shop-1:a"].missing_sequences == [2]
    assert "missing 1 " in check.line()


def test_events_acknowledged_out_of_order_fail_the_check():
    a = stored("a", 3)
    check = EventsCheck(cases=compare(a, [a[0], a[2], a[1]]))
    assert not check.ok
    assert check.cases["shop-1:a"].out_of_order == 1 and check.cases["shop-1:a"].late_sequences == [2]
    assert check.total("missing") == 0


def test_an_event_the_store_never_held_fails_the_check():
    a = stored("a", 1)
    check = EventsCheck(cases=compare(a, [a[0], stored("z", 1)[0]]))
    assert not check.ok and check.total("unexpected") == 1


def test_nothing_stored_or_not_drained_is_no_pass():
    assert not EventsCheck(cases={}).ok
    a = stored("a", 1)
    assert not EventsCheck(cases=compare(a, a), drained=False).ok


async def test_a_record_dropped_from_the_receivers_database_shows_as_missing_1(tmp_path: Path):
    """The receiver's record, on its SQLite file, is what the harness judges: drop one row and
    the comparison with the store says ``missing 1`` for that case."""
    db = tmp_path / "sandbox.db"
    events = stored("c-1", 4) + stored("c-2", 2)

    app = create_app(state_file=db)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as http:
            for event in events:
                assert (await http.post("/receiver/events", json=event)).status_code == 204
            received = (await http.get("/receiver/received")).json()["received"]
    finally:
        await app.state.sandbox.aclose()
    assert EventsCheck(cases=compare(events, received)).ok

    with sqlite3.connect(db) as connection:  # the receiver "loses" the delivery of c-1's third event
        assert connection.execute("DELETE FROM received_events WHERE event_id = 'evt_c-1_3'").rowcount == 1

    app = create_app(state_file=db)  # the sandbox started again on its file
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as http:
            received = (await http.get("/receiver/received")).json()["received"]
    finally:
        await app.state.sandbox.aclose()
    check = EventsCheck(cases=compare(events, received))
    assert not check.ok
    assert check.total("missing") == 1 and check.cases["shop-1:c-1"].missing_sequences == [3]
    assert check.cases["shop-1:c-2"].ok
    lines = report_lines(check, {"shop-1:c-1": "refund_approve", "shop-1:c-2": "repair"})
    assert any("PROBLEM events shop-1:c-1" in line and "missing 1 " in line for line in lines), lines
