"""Inbound courier events are never lost, and a replayed one is refused (real dev server).

A scan posted before any case has claimed its tracking number waits in the parcel's workflow and
reaches the case the moment the buyer submits that number; the inspection clock then counts from
the delivery, not from the submission. A timestamped signature is refused outside the tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from http_api import create_app
from tests.api.conftest import WEBHOOK_SECRET, Api, api_settings, uid
from tests.support.serve import serve


def timestamped(event: dict[str, Any], stamp: int | None = None, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict]:
    raw = json.dumps(event).encode()
    stamp = int(time.time()) if stamp is None else stamp
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return raw, {"Content-Type": "application/json", "X-Signature": signature, "X-Signature-Timestamp": str(stamp)}


def scan(tracking: str, status: str = "delivered", occurred_at: datetime | None = None) -> dict[str, Any]:
    return {"carrier": "sf", "tracking_number": tracking, "status": status,
            "occurred_at": (occurred_at or datetime.now(UTC)).isoformat()}


async def test_a_delivery_posted_before_the_tracking_number_is_claimed_still_moves_the_case(api: Api):
    case_id = (await api.opened())["case_id"]
    await api.ok(case_id, "approve", "staff")
    tracking = uid("SF")
    delivered_at = datetime.now(UTC) - timedelta(hours=6)
    raw, headers = timestamped(scan(tracking, "delivered", delivered_at))
    response = await api.http.post("/v1/courier/events", content=raw, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["matched"] == 0  # nobody has this number yet

    view = await api.ok(case_id, "submit_return_shipment", "buyer", {"carrier": "sf", "tracking_number": tracking})
    assert view["state"] == "return_in_transit"
    view = await api.wait_for_state(case_id, "awaiting_inspection")
    delivered = [e for e in view["timeline"] if e["action"] == "parcel_delivered"]
    assert len(delivered) == 1 and delivered[0]["detail"]["tracking_number"] == tracking
    # The inspection window counts from the delivery the courier reported, not from now.
    deadline = datetime.fromisoformat(view["deadline"])
    assert abs(deadline - (delivered_at + timedelta(days=10))) < timedelta(seconds=1)


async def test_a_replayed_courier_event_is_refused(api: Api):
    case_id = (await api.opened())["case_id"]
    await api.ok(case_id, "approve", "staff")
    tracking = uid("SF")
    await api.ok(case_id, "submit_return_shipment", "buyer", {"carrier": "sf", "tracking_number": tracking})
    captured = timestamped(scan(tracking, "delivered"), stamp=int(time.time()) - 3600)  # signed an hour ago
    response = await api.http.post("/v1/courier/events", content=captured[0], headers=captured[1])
    assert response.status_code == 401
    assert "X-Signature-Timestamp" in response.json()["detail"]
    # A forged timestamp breaks the signature.
    raw, headers = captured
    response = await api.http.post("/v1/courier/events", content=raw,
                                   headers={**headers, "X-Signature-Timestamp": str(int(time.time()))})
    assert response.status_code == 401
    assert (await api.view(case_id))["state"] == "return_in_transit"  # nothing changed
    fresh = timestamped(scan(tracking, "delivered"))
    assert (await api.http.post("/v1/courier/events", content=fresh[0], headers=fresh[1])).status_code == 202
    await api.wait_for_state(case_id, "awaiting_inspection")


async def test_with_timestamps_required_the_older_body_only_signature_is_refused(api: Api, tokens_file: str):
    settings = api_settings(tokens_file, AFTERSALES_COURIER_REQUIRE_TIMESTAMP="true")
    app = create_app(settings, client=api.client)
    raw = json.dumps(scan(uid("SF"))).encode()
    legacy = {"Content-Type": "application/json",
              "X-Signature": hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()}
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as http:
        response = await http.post("/v1/courier/events", content=raw, headers=legacy)
        assert response.status_code == 401
        assert "X-Signature-Timestamp" in response.json()["detail"]
        ok = timestamped(json.loads(raw))
        assert (await http.post("/v1/courier/events", content=ok[0], headers=ok[1])).status_code == 202


class Capturing(httpx.AsyncBaseTransport):
    """Sends over real HTTP and keeps each request, as a man in the middle would."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._http = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        await self._http.aclose()


async def test_the_sandbox_courier_signs_with_a_timestamp_and_a_replay_of_its_push_is_refused(api: Api, monkeypatch):
    """The sandbox courier signs its pushes the way the API checks them (timestamp + body): its
    push moves the case; the same push captured and replayed ten minutes later is refused and
    changes nothing; a courier whose clock is ten minutes behind is refused too."""
    from http_api import courier as courier_route
    from sandbox import create_app as sandbox_app

    case_id = (await api.opened())["case_id"]
    await api.ok(case_id, "approve", "staff")
    tracking = uid("SF")
    await api.ok(case_id, "submit_return_shipment", "buyer", {"carrier": "sf", "tracking_number": tracking})

    wire = Capturing()
    courier = sandbox_app(webhook_url=f"{api.base_url}/v1/courier/events", webhook_secret=WEBHOOK_SECRET,
                          webhook_transport=wire)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=courier), base_url="http://sandbox") as sandbox:
        parcel = {"carrier": "sf", "tracking_number": tracking, "status": "delivered"}
        pushed = (await sandbox.post("/courier/parcels", json=parcel)).json()
    await courier.state.sandbox.aclose()
    assert pushed["webhook"]["delivered"] is True and pushed["webhook"]["status_code"] == 202
    [push] = wire.requests
    assert abs(int(push.headers["X-Signature-Timestamp"]) - time.time()) < 60
    await api.wait_for_state(case_id, "awaiting_inspection")
    version = (await api.view(case_id))["version"]

    # Replayed ten minutes later (outside the 5-minute tolerance): refused, nothing changes.
    later = time.time() + 600
    monkeypatch.setattr(courier_route, "time", type("Clock", (), {"time": staticmethod(lambda: later)}))
    replay = await api.http.post("/v1/courier/events", content=push.content,
                                 headers={k: push.headers[k] for k in ("Content-Type", "X-Signature",
                                                                        "X-Signature-Timestamp")})
    assert replay.status_code == 401, replay.text
    assert "X-Signature-Timestamp is not within" in replay.json()["detail"]
    monkeypatch.undo()
    assert (await api.view(case_id))["version"] == version

    # A courier signing with a clock ten minutes behind is refused at once.
    wire = Capturing()
    stale = sandbox_app(webhook_url=f"{api.base_url}/v1/courier/events", webhook_secret=WEBHOOK_SECRET,
                        webhook_transport=wire, webhook_clock=lambda: time.time() - 600, webhook_attempts=1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stale), base_url="http://sandbox") as sandbox:
        answer = (await sandbox.post("/courier/parcels", json={"carrier": "sf", "tracking_number": uid("SF")})).json()
    await stale.state.sandbox.aclose()
    assert answer["webhook"]["delivered"] is False and answer["webhook"]["status_code"] == 401
