"""The courier webhook: signed with HMAC-SHA256, matched to cases by tracking number."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from tests.api.conftest import WEBHOOK_SECRET, uid


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(event).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"Content-Type": "application/json", "X-Signature": signature}


def event(tracking_number: str, status: str = "delivered", **extra: Any) -> dict[str, Any]:
    return {
        "carrier": "sf",
        "tracking_number": tracking_number,
        "status": status,
        "occurred_at": datetime.now(UTC).isoformat(),
        **extra,
    }


async def return_in_transit(api) -> tuple[str, str]:
    case_id = (await api.opened())["case_id"]
    tracking = uid("SF")
    await api.ok(case_id, "approve", "staff")
    await api.ok(case_id, "submit_return_shipment", "buyer", {"carrier": "sf", "tracking_number": tracking})
    # The webhook finds the case through visibility: wait until it knows the tracking number.
    await api.wait_listed("staff", lambda p: [i["case_id"] for i in p["items"]] == [case_id], tracking_number=tracking)
    return case_id, tracking


async def test_a_signed_delivery_moves_the_return_to_inspection(api):
    case_id, tracking = await return_in_transit(api)
    raw, headers = signed(event(tracking, "in_transit", courier_note="sorting centre"))  # extra fields are fine
    response = await api.http.post("/v1/courier/events", content=raw, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": True, "matched": 1}

    raw, headers = signed(event(tracking, "delivered"))
    assert (await api.http.post("/v1/courier/events", content=raw, headers=headers)).status_code == 202
    view = await api.wait_for_state(case_id, "awaiting_inspection")
    assert view["waiting_on"] == "merchant"
    assert [e["action"] for e in view["timeline"]][-2:] == ["parcel_in_transit", "parcel_delivered"]


async def test_bad_or_missing_signatures_are_401(api):
    case_id, tracking = await return_in_transit(api)
    version = (await api.view(case_id))["version"]
    raw, headers = signed(event(tracking))
    attempts = [
        (raw, {**headers, "X-Signature": signed(event(tracking), "wrong-secret")[1]["X-Signature"]}),
        (raw.replace(b"delivered", b"exception"), headers),  # tampered after signing
        (raw, {"Content-Type": "application/json"}),
        (raw, {**headers, "X-Signature": ""}),
        (raw, {**headers, "X-Signature": "zz" * 32}),
        (raw, {**headers, "X-Signature": "sha256=ünïcode".encode("latin-1")}),
        (raw, {"Content-Type": "application/json", "Authorization": "Bearer tok-system"}),  # a token is no signature
    ]
    for body, attempt in attempts:
        response = await api.http.post("/v1/courier/events", content=body, headers=attempt)
        assert response.status_code == 401, attempt
        assert "X-Signature" in response.headers["WWW-Authenticate"]
    view = await api.view(case_id)
    assert view["state"] == "return_in_transit" and view["version"] == version


async def test_unknown_tracking_numbers_are_accepted_and_ignored(api):
    for tracking in (uid("NOPE"), "odd'quote\"s"):
        raw, headers = signed(event(tracking))
        response = await api.http.post("/v1/courier/events", content=raw, headers=headers)
        assert response.status_code == 202
        assert response.json() == {"accepted": True, "matched": 0}


async def test_signed_but_unusable_events(api):
    raw, headers = signed(
        {"carrier": "sf", "tracking_number": "X1", "status": "teleported", "occurred_at": "yesterday"}
    )
    response = await api.http.post("/v1/courier/events", content=raw, headers=headers)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"status", "occurred_at"}
    raw, headers = signed(event("X1"))
    response = await api.http.post("/v1/courier/events", content=raw, headers={**headers, "Content-Type": "text/plain"})
    assert response.status_code == 415
