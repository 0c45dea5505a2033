"""The sandbox behind a real uvicorn server: what only sockets show (a connection dropped after the
payout was recorded, a client timing out on a slow answer, webhook pushes over HTTP, the lifespan)
and ``python -m sandbox`` itself."""

from __future__ import annotations

import asyncio
import hmac
import json
import signal
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from temporalio.testing import ActivityEnvironment

from activities import PaymentActivities
from http_api.courier import timestamped_signature
from sandbox import DropMode, PaymentFaults, create_app
from tests.sandbox.conftest import SECRET, serve
from tests.sandbox.test_contract import payout_request

ROOT = Path(__file__).resolve().parents[2]


async def test_dropped_connection_after_recording(make_app):
    app = make_app(faults=PaymentFaults(drop_after_record_rate=1, drop_mode=DropMode.DISCONNECT))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        acts = PaymentActivities(http, f"{base_url}/payments")
        # The client gets no answer at all: a transport error, which Temporal retries.
        with pytest.raises(httpx.TransportError):
            await ActivityEnvironment().run(acts.pay_refund, payout_request())
        assert (await http.get(f"/payments/payouts/{payout_request().idempotency_key}")).status_code == 200

        retry = await ActivityEnvironment().run(acts.pay_refund, payout_request())
        assert retry.already_paid is True
        assert (await http.get("/payments/ledger")).json()["count"] == 1


async def test_client_timeout_on_a_slow_answer_after_recording(make_app):
    app = make_app(faults=PaymentFaults(slow_rate=1, slow_seconds=0.6))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=0.2) as http:
        acts = PaymentActivities(http, f"{base_url}/payments")
        with pytest.raises(httpx.ReadTimeout):
            await ActivityEnvironment().run(acts.pay_refund, payout_request())

        retry = await ActivityEnvironment().run(acts.pay_refund, payout_request())
        assert retry.already_paid is True
        assert (await http.get("/payments/ledger")).json()["count"] == 1


def webhook_receiver(secret: str, events: list[dict[str, Any]]) -> FastAPI:
    """A stand-in for the API's ``POST /v1/courier/events``: checks the signature, keeps the event."""
    receiver = FastAPI()

    @receiver.post("/v1/courier/events", status_code=202)
    async def courier_event(request: Request) -> dict[str, bool]:
        raw = await request.body()
        stamp = request.headers.get("X-Signature-Timestamp", "")
        if not hmac.compare_digest(request.headers.get("X-Signature", ""), timestamped_signature(secret, stamp, raw)):
            raise HTTPException(401, "bad signature")
        events.append(json.loads(raw))
        return {"accepted": True}

    return receiver


async def test_auto_advance_pushes_signed_events_over_http():
    events: list[dict[str, Any]] = []
    async with serve(webhook_receiver(SECRET, events)) as receiver_url:
        app = create_app(
            webhook_url=f"{receiver_url}/v1/courier/events", webhook_secret=SECRET, auto_advance_seconds=0.05
        )
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
            await http.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})
            for _ in range(100):
                if len(events) == 3:
                    break
                await asyncio.sleep(0.02)
            deliveries = (await http.get("/courier/deliveries")).json()["deliveries"]
            # Another parcel still moving when the server stops: the lifespan cancels its task.
            await http.get("/courier/parcels/sf/STILL-MOVING")

    assert [e["status"] for e in events[:3]] == ["picked_up", "in_transit", "delivered"]
    assert all(d["delivered"] and d["status_code"] == 202 for d in deliveries)


async def test_a_wrong_secret_is_refused_by_the_receiver():
    events: list[dict[str, Any]] = []
    async with serve(webhook_receiver(SECRET, events)) as receiver_url:
        app = create_app(webhook_url=f"{receiver_url}/v1/courier/events", webhook_secret="not-the-secret")
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
            answer = (await http.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})).json()
    assert answer["webhook"]["status_code"] == 401 and events == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_python_dash_m_sandbox(tmp_path: Path):
    port = free_port()
    state_file = tmp_path / "sandbox.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port),
        "--webhook-url", "http://127.0.0.1:9/unused", "--webhook-secret", "s",
        "--state-file", str(state_file), "--refuse-account", "buyer-gone", "--seed", "3", "--log-level", "warning",
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                try:
                    if (await http.get("/healthz")).json() == {"ok": True}:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            faults = (await http.get("/payments/faults")).json()["faults"]
            assert faults["refuse_accounts"] == ["buyer-gone"] and faults["seed"] == 3
            body = payout_request().provider_body()
            paid = await http.post("/payments/payouts", json=body, headers={"Idempotency-Key": body["idempotency_key"]})
            assert paid.status_code == 201
        with sqlite3.connect(state_file) as db:
            (doc,) = db.execute("SELECT doc FROM payouts").fetchone()
        assert json.loads(doc)["payment_id"] == paid.json()["payment_id"]
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM), stderr.decode()
    assert b"Traceback" not in stderr, stderr.decode()
