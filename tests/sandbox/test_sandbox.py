"""The provider sandbox over HTTP (``httpx.ASGITransport``): payments, notifications, courier, state."""

from __future__ import annotations

import asyncio
import hmac
import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from http_api.courier import timestamped_signature
from sandbox import PaymentFaults, create_app
from tests.sandbox.conftest import SECRET, WEBHOOK_URL, client_for


def payout_body(key: str = "aftersales:c1:payout:1", **overrides: Any) -> dict[str, Any]:
    body = {
        "idempotency_key": key,
        "case_id": "c1",
        "order_id": "o1",
        "shop_id": "shop-1",
        "buyer_id": "buyer-1",
        "currency": "CNY",
        "refund": 10_000,
        "reimbursement": 1_200,
        "lines": [{"kind": "items", "amount": 10_000, "note": ""}, {"kind": "return_shipping", "amount": 1_200}],
    }
    return {**body, **overrides}


async def pay(client, body: dict[str, Any] | None = None, key: str | None = None):  # noqa: ANN001, ANN201
    body = body or payout_body()
    return await client.post(
        "/payments/payouts", json=body, headers={"Idempotency-Key": key or body["idempotency_key"]}
    )


def message_body(key: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "dedupe_key": key,
        "case_id": "c1",
        "shop_id": "shop-1",
        "recipient_role": "buyer",
        "recipient_id": "buyer-1",
        "kind": "refund_paid",
        "message": "your money is on its way",
    }
    return {**body, **overrides}


async def test_healthz_and_index(client):
    assert (await client.get("/healthz")).json() == {"ok": True}
    index = (await client.get("/")).json()
    assert index["payments"] == "/payments" and index["webhook_url"] == WEBHOOK_URL


# --------------------------------------------------------------------------------- payments


async def test_payout_is_recorded_once_and_replayed(client):
    first = await pay(client)
    assert first.status_code == 201
    payout = first.json()
    assert payout["amount"] == 11_200
    assert payout["refund"] == 10_000 and payout["reimbursement"] == 1_200
    assert payout["currency"] == "CNY" and payout["case_id"] == "c1" and payout["order_id"] == "o1"
    assert payout["idempotency_key"] == "aftersales:c1:payout:1"
    assert payout["replayed"] is False
    datetime.fromisoformat(payout["paid_at"])

    again = await pay(client)
    assert again.status_code == 200
    assert again.json() == {**payout, "replayed": True}

    ledger = (await client.get("/payments/ledger")).json()
    assert ledger["count"] == 1
    assert ledger["by_case"] == {"c1": {"CNY": 11_200}}
    counters = (await client.get("/payments/faults")).json()["counters"]
    assert counters["calls"] == 2 and counters["recorded"] == 1 and counters["replayed"] == 1


async def test_get_payout_by_key(client):
    assert (await client.get("/payments/payouts/aftersales:c1:payout:1")).status_code == 404
    created = (await pay(client)).json()
    found = await client.get("/payments/payouts/aftersales:c1:payout:1")
    assert found.status_code == 200
    assert found.json()["payment_id"] == created["payment_id"]
    assert "replayed" not in found.json() and "request_fingerprint" not in found.json()


async def test_same_key_with_a_different_body_is_a_conflict(client):
    await pay(client)
    conflict = await pay(client, payout_body(refund=9_999))
    assert conflict.status_code == 422
    assert "different payout" in conflict.json()["detail"]
    assert (await client.get("/payments/ledger")).json()["count"] == 1


async def test_header_and_body_keys_must_agree(client):
    response = await pay(client, payout_body("k-body"), key="k-header")
    assert response.status_code == 400
    assert (await client.get("/payments/ledger")).json()["count"] == 0


async def test_unknown_fields_are_refused_so_contract_drift_shows(client):
    response = await pay(client, payout_body(tip=5))
    assert response.status_code == 422


async def test_fail_rate_answers_500_and_records_nothing(client):
    await client.post("/payments/faults", json={"fail_rate": 1})
    response = await pay(client)
    assert response.status_code == 500
    assert (await client.get("/payments/payouts/aftersales:c1:payout:1")).status_code == 404
    assert (await client.get("/payments/ledger")).json()["count"] == 0

    state = (await client.post("/payments/faults", json={"fail_rate": 0})).json()
    assert state["counters"]["failures_injected"] == 1
    assert (await pay(client)).status_code == 201


async def test_fail_status_is_configurable(make_app):
    async with client_for(make_app(faults=PaymentFaults(fail_rate=1, fail_status=503))) as client:
        assert (await pay(client)).status_code == 503


async def test_drop_after_record_answers_500_but_the_payout_exists(client):
    await client.post("/payments/faults", json={"drop_after_record_rate": 1})
    lost = await pay(client)
    assert lost.status_code == 500

    found = await client.get("/payments/payouts/aftersales:c1:payout:1")
    assert found.status_code == 200
    assert found.json()["amount"] == 11_200

    # A blind retry with the same key does not pay again either.
    await client.post("/payments/faults", json={"drop_after_record_rate": 0})
    retry = await pay(client)
    assert retry.status_code == 200 and retry.json()["replayed"] is True
    assert (await client.get("/payments/ledger")).json()["count"] == 1


async def test_slow_answer_is_recorded_before_the_sleep(client):
    await client.post("/payments/faults", json={"slow_rate": 1, "slow_seconds": 0.5})
    pending = asyncio.create_task(pay(client))
    await asyncio.sleep(0.1)
    assert not pending.done()
    # A client that timed out and looks the key up finds the payout already recorded.
    assert (await client.get("/payments/payouts/aftersales:c1:payout:1")).status_code == 200
    assert (await pending).status_code == 201
    assert (await client.get("/payments/faults")).json()["counters"]["slow_injected"] == 1


async def test_refused_case_or_account_gets_422(make_app):
    faults = PaymentFaults(refuse_case_ids=["c-closed"], refuse_accounts=["buyer-gone"])
    async with client_for(make_app(faults=faults)) as client:
        by_case = await pay(client, payout_body("k1", case_id="c-closed"))
        by_account = await pay(client, payout_body("k2", buyer_id="buyer-gone"))
        for response in (by_case, by_account):
            assert response.status_code == 422
            assert response.json() == {"detail": "buyer's account is closed"}
        assert (await client.get("/payments/ledger")).json()["count"] == 0
        assert (await pay(client, payout_body("k3"))).status_code == 201


async def test_faults_with_the_same_seed_repeat_exactly(make_app):
    async def statuses(seed: int) -> list[int]:
        app = make_app(faults=PaymentFaults(seed=seed, fail_rate=0.5))
        async with client_for(app) as client:
            return [(await pay(client, payout_body(f"k{i}"))).status_code for i in range(20)]

    first = await statuses(7)
    assert first == await statuses(7)
    assert set(first) == {201, 500}


async def test_faults_are_shown_and_validated(client):
    state = (await client.get("/payments/faults")).json()
    assert state["faults"]["fail_rate"] == 0 and state["faults"]["drop_mode"] == "error"
    assert state["counters"]["calls"] == 0

    updated = (await client.post("/payments/faults", json={"slow_rate": 0.25, "refuse_case_ids": ["x"]})).json()
    assert updated["faults"]["slow_rate"] == 0.25 and updated["faults"]["refuse_case_ids"] == ["x"]
    assert (await client.post("/payments/faults", json={"fail_rate": 2})).status_code == 422
    assert (await client.post("/payments/faults", json={"nonsense": 1})).status_code == 422


async def test_ledger_filters_and_totals(client):
    await pay(client, payout_body("k1", case_id="c1", order_id="o1"))
    await pay(client, payout_body("k2", case_id="c2", order_id="o1", refund=500, reimbursement=0))
    await pay(client, payout_body("k3", case_id="c3", order_id="o2", refund=100, reimbursement=0))

    ledger = (await client.get("/payments/ledger")).json()
    assert [p["idempotency_key"] for p in ledger["payouts"]] == ["k1", "k2", "k3"]
    assert [p["payment_id"] for p in ledger["payouts"]] == ["pay-000001", "pay-000002", "pay-000003"]
    assert ledger["total"] == {"CNY": 11_800}
    assert ledger["by_order"] == {"shop-1/o1": {"CNY": 11_700}, "shop-1/o2": {"CNY": 100}}

    c2 = (await client.get("/payments/ledger", params={"case_id": "c2"})).json()
    assert c2["count"] == 1 and c2["by_case"] == {"c2": {"CNY": 500}}
    o1 = (await client.get("/payments/ledger", params={"order_id": "o1"})).json()
    assert o1["count"] == 2


async def test_reset_clears_records_and_restores_start_up_faults(make_app):
    async with client_for(make_app(faults=PaymentFaults(refuse_accounts=["b"]))) as client:
        await pay(client)
        await client.post("/notify/messages", json=message_body("m1"))
        await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})
        await client.post("/payments/faults", json={"fail_rate": 1})

        assert (await client.post("/reset")).json() == {"ok": True}
        assert (await client.get("/payments/ledger")).json()["count"] == 0
        assert (await client.get("/notify/messages")).json()["count"] == 0
        assert (await client.get("/courier/parcels")).json()["count"] == 0
        assert (await client.get("/courier/deliveries")).json()["count"] == 0
        state = (await client.get("/payments/faults")).json()
        assert state["faults"]["fail_rate"] == 0 and state["faults"]["refuse_accounts"] == ["b"]
        assert state["counters"]["calls"] == 0


# --------------------------------------------------------------------------------- notifications


async def test_notifications_are_deduplicated(client):
    first = await client.post("/notify/messages", json=message_body("m1"), headers={"Idempotency-Key": "m1"})
    assert first.status_code == 202 and first.json()["duplicate"] is False
    again = await client.post("/notify/messages", json=message_body("m1"), headers={"Idempotency-Key": "m1"})
    assert again.status_code == 202
    assert again.json() == {"accepted": True, "duplicate": True, "message_id": first.json()["message_id"]}
    # Without the header the body's dedupe_key is the key.
    assert (await client.post("/notify/messages", json=message_body("m1"))).json()["duplicate"] is True

    inbox = (await client.get("/notify/messages")).json()
    assert inbox["count"] == 1
    assert inbox["messages"][0]["kind"] == "refund_paid"
    datetime.fromisoformat(inbox["messages"][0]["received_at"])


async def test_notification_header_and_dedupe_key_must_agree(client):
    response = await client.post("/notify/messages", json=message_body("m1"), headers={"Idempotency-Key": "other"})
    assert response.status_code == 400


async def test_inbox_filters(client):
    await client.post("/notify/messages", json=message_body("m1"))
    await client.post("/notify/messages", json=message_body("m2", kind="reminder"))
    await client.post(
        "/notify/messages",
        json=message_body("m3", case_id="c2", recipient_role="staff", recipient_id="alice", kind="reminder"),
    )

    async def keys(**params: str) -> list[str]:
        inbox = (await client.get("/notify/messages", params=params)).json()
        return [m["dedupe_key"] for m in inbox["messages"]]

    assert await keys() == ["m1", "m2", "m3"]
    assert await keys(case_id="c1") == ["m1", "m2"]
    assert await keys(kind="reminder") == ["m2", "m3"]
    assert await keys(recipient_role="staff") == ["m3"]
    assert await keys(recipient_id="buyer-1", kind="reminder") == ["m2"]
    assert await keys(case_id="nope") == []


async def test_notification_body_is_validated(client):
    body = message_body("m1")
    del body["recipient_id"]
    assert (await client.post("/notify/messages", json=body)).status_code == 422


# --------------------------------------------------------------------------------- courier


def assert_signed(request, secret: str = SECRET) -> dict[str, Any]:  # noqa: ANN001
    """Signed as the API checks it: HMAC of "{X-Signature-Timestamp}." + body, timestamp of now."""
    stamp = request.headers["X-Signature-Timestamp"]
    assert stamp.isdigit() and abs(int(stamp) - time.time()) < 60
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + request.content, "sha256").hexdigest()
    signature = request.headers["X-Signature"]
    assert signature == signature.lower()
    assert hmac.compare_digest(signature, expected)
    assert signature == timestamped_signature(secret, stamp, request.content)  # the API's expectation
    assert request.headers["Content-Type"] == "application/json"
    return json.loads(request.content)


async def test_parcel_lifecycle_with_signed_webhook_pushes(client, receiver):
    assert (await client.get("/courier/parcels/sf/T1")).status_code == 404
    assert (await client.post("/courier/parcels/sf/T1/advance")).status_code == 404

    registered = await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})
    assert registered.status_code == 201
    assert registered.json()["status"] == "picked_up"
    assert registered.json()["webhook"]["delivered"] is True

    looked_up = (await client.get("/courier/parcels/sf/T1")).json()
    assert looked_up["carrier"] == "sf" and looked_up["tracking_number"] == "T1"
    assert looked_up["status"] == "picked_up"
    assert datetime.fromisoformat(looked_up["occurred_at"]).tzinfo is not None

    assert (await client.post("/courier/parcels/sf/T1/advance")).json()["status"] == "in_transit"
    assert (await client.post("/courier/parcels/sf/T1/advance")).json()["status"] == "delivered"
    final = await client.post("/courier/parcels/sf/T1/advance")
    assert final.status_code == 409

    events = [assert_signed(r) for r in receiver.requests]
    assert [str(r.url) for r in receiver.requests] == [WEBHOOK_URL] * 3
    assert [e["status"] for e in events] == ["picked_up", "in_transit", "delivered"]
    assert set(events[0]) == {"carrier", "tracking_number", "status", "occurred_at"}
    assert events[-1] == (await client.get("/courier/parcels/sf/T1")).json()


async def test_advance_to_a_given_status_and_time(client, receiver):
    await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})
    moved = await client.post(
        "/courier/parcels/sf/T1/advance", json={"status": "exception", "occurred_at": "2025-03-01T10:00:00+08:00"}
    )
    assert moved.json()["status"] == "exception"
    assert datetime.fromisoformat(moved.json()["occurred_at"]) == datetime.fromisoformat("2025-03-01T02:00:00+00:00")
    assert (await client.post("/courier/parcels/sf/T1/advance")).status_code == 409
    # An explicit status moves even a parcel in exception.
    assert (await client.post("/courier/parcels/sf/T1/advance", json={"status": "delivered"})).status_code == 200
    assert [e["status"] for e in receiver.events()] == ["picked_up", "exception", "delivered"]


async def test_registering_a_known_parcel_changes_nothing(client, receiver):
    await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1", "status": "in_transit"})
    again = await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})
    assert again.status_code == 200
    assert again.json()["status"] == "in_transit" and again.json()["webhook"] is None
    assert len(receiver.requests) == 1
    # Same tracking number at another carrier is another parcel.
    assert (await client.get("/courier/parcels/ems/T1")).status_code == 404


async def test_webhook_is_retried_on_5xx_and_failures_are_logged(make_app, receiver):
    receiver.statuses = [503, 202, 500, 500]
    async with client_for(make_app(webhook_attempts=2)) as client:
        first = (await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})).json()
        assert first["webhook"]["delivered"] is True and first["webhook"]["attempts"] == 2

        # A webhook that keeps failing does not fail the courier's own answer.
        second = await client.post("/courier/parcels/sf/T1/advance")
        assert second.status_code == 200
        assert second.json()["webhook"]["delivered"] is False and second.json()["webhook"]["status_code"] == 500

        deliveries = (await client.get("/courier/deliveries")).json()["deliveries"]
        assert [d["delivered"] for d in deliveries] == [True, False]
    assert len(receiver.requests) == 4


async def test_webhook_does_not_retry_a_4xx(make_app, receiver):
    receiver.statuses = [401]
    async with client_for(make_app()) as client:
        answer = (await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})).json()
    assert answer["webhook"]["attempts"] == 1 and answer["webhook"]["status_code"] == 401
    assert len(receiver.requests) == 1


async def test_without_a_webhook_nothing_is_pushed(make_app, receiver):
    async with client_for(make_app(webhook_url=None)) as client:
        answer = (await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})).json()
        assert answer["webhook"] is None
        assert (await client.post("/courier/parcels/sf/T1/advance")).json()["webhook"] is None
    assert receiver.requests == []


async def test_auto_advance_moves_parcels_and_pushes_each_step(make_app, receiver):
    async with client_for(make_app(auto_advance_seconds=0.05)) as client:
        # Auto mode registers an unknown tracking number on its first lookup.
        first = await client.get("/courier/parcels/sf/AUTO1")
        assert first.status_code == 200 and first.json()["status"] == "picked_up"
        await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "AUTO2"})

        for _ in range(100):
            statuses = [(await client.get(f"/courier/parcels/sf/{t}")).json()["status"] for t in ("AUTO1", "AUTO2")]
            if statuses == ["delivered", "delivered"]:
                break
            await asyncio.sleep(0.02)
        assert statuses == ["delivered", "delivered"]

    by_parcel: dict[str, list[str]] = {}
    for request in receiver.requests:
        event = assert_signed(request)
        by_parcel.setdefault(event["tracking_number"], []).append(event["status"])
    assert by_parcel == {t: ["picked_up", "in_transit", "delivered"] for t in ("AUTO1", "AUTO2")}


async def test_a_lookup_does_not_wait_on_a_failing_webhook(make_app, receiver):
    receiver.statuses = [500, 500, 500]
    async with client_for(make_app(auto_advance_seconds=10)) as client:
        started = asyncio.get_running_loop().time()
        assert (await client.get("/courier/parcels/sf/T1")).json()["status"] == "picked_up"
        # Three attempts with back-off take 0.6 s; the lookup answered without them.
        assert asyncio.get_running_loop().time() - started < 0.3
        for _ in range(100):
            deliveries = (await client.get("/courier/deliveries")).json()["deliveries"]
            if deliveries:
                break
            await asyncio.sleep(0.02)
        assert deliveries[0]["attempts"] == 3 and deliveries[0]["delivered"] is False


async def test_reset_stops_auto_advance(make_app, receiver):
    app = make_app(auto_advance_seconds=0.05)
    async with client_for(app) as client:
        await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})
        await client.post("/reset")
        await asyncio.sleep(0.15)
        assert (await client.get("/courier/parcels")).json()["count"] == 0
    assert [e["status"] for e in receiver.events()] == ["picked_up"]


# --------------------------------------------------------------------------------- state file


def rows(db: Path, table: str) -> list[dict[str, Any]]:
    """The records of one table, read from the database file itself (not through the sandbox)."""
    with sqlite3.connect(db) as conn:
        return [json.loads(doc) for (doc,) in conn.execute(f"SELECT doc FROM {table}")]


async def test_state_file_survives_a_restart(make_app, tmp_path: Path):
    state_file = tmp_path / "state" / "sandbox.db"
    async with client_for(make_app(state_file=state_file)) as client:
        created = (await pay(client)).json()
        await client.post("/notify/messages", json=message_body("m1"))
        await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1", "status": "in_transit"})
    assert [p["payment_id"] for p in rows(state_file, "payouts")] == [created["payment_id"]]
    assert [p["status"] for p in rows(state_file, "parcels")] == ["in_transit"]

    async with client_for(make_app(state_file=state_file)) as client:
        replay = await pay(client)
        assert replay.status_code == 200 and replay.json()["payment_id"] == created["payment_id"]
        assert (await pay(client, payout_body("k2"))).json()["payment_id"] == "pay-000002"
        assert (await client.post("/notify/messages", json=message_body("m1"))).json()["duplicate"] is True
        assert (await client.get("/courier/parcels/sf/T1")).json()["status"] == "in_transit"
        assert (await client.post("/courier/parcels/sf/T1/advance")).json()["status"] == "delivered"

        assert [p["status"] for p in rows(state_file, "parcels")] == ["delivered"]  # updated, not appended
        await client.post("/reset")
    assert rows(state_file, "payouts") == [] and rows(state_file, "messages") == []


async def test_a_state_file_of_another_format_is_refused(tmp_path: Path):
    state_file = tmp_path / "sandbox.json"
    state_file.write_text(json.dumps({"version": 1, "payouts": []}))
    with pytest.raises(ValueError, match="not a sandbox database.*JSON state file"):
        create_app(state_file=state_file)
    assert json.loads(state_file.read_text()) == {"version": 1, "payouts": []}  # left as it was

    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(ValueError, match="version 99, expected"):
        create_app(state_file=newer)


async def test_inbox_and_ledger_by_case_come_from_the_index(client):
    for i in range(3):
        await client.post("/notify/messages", json=message_body(f"m{i}", case_id=f"c{i % 2}"))
        await pay(client, payout_body(f"k{i}", case_id=f"c{i % 2}"))
    inbox = (await client.get("/notify/messages", params={"case_id": "c0"})).json()
    assert [m["dedupe_key"] for m in inbox["messages"]] == ["m0", "m2"]
    ledger = (await client.get("/payments/ledger", params={"case_id": "c1"})).json()
    assert [p["idempotency_key"] for p in ledger["payouts"]] == ["k1"] and ledger["count"] == 1
    assert (await client.get("/payments/ledger", params={"case_id": "nobody"})).json()["count"] == 0
