"""A webhook receiver for the pipeline's outbound events, as an integrator's backend would run
one, with failure injection.

    POST /receiver/events     receive one event (Standard Webhooks headers); verified when a
                              secret is set; 503/500/... while a fault is on
    GET  /receiver/events     what arrived: every attempt's outcome and the accepted events
    PUT  /receiver/config     {secret?, fail_next?, fail_status?, fail_all?, delay_seconds?}
    GET  /receiver/report     per case: events received, duplicates, gaps and out-of-order arrivals

Kept in memory (the pipeline redelivers whatever was not acknowledged, so nothing is lost when the
sandbox restarts).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

TOLERANCE_SECONDS = 5 * 60


class ReceiverConfig(BaseModel):
    secret: str | None = Field(default=None, description="whsec_... to verify signatures with; none: accept unsigned")
    fail_next: int = Field(default=0, ge=0, description="answer the next N deliveries with fail_status")
    fail_all: bool = Field(default=False, description="answer every delivery with fail_status until turned off")
    fail_status: int = Field(default=503, ge=400, le=599)
    delay_seconds: float = Field(default=0.0, ge=0, le=60, description="wait this long before answering")


@dataclass
class EventReceiver:
    config: ReceiverConfig = field(default_factory=ReceiverConfig)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)

    def reset(self) -> None:
        self.config = ReceiverConfig()
        self.accepted.clear()
        self.attempts.clear()
        self.seen_ids.clear()

    def verify(self, headers: dict[str, str], body: bytes) -> str | None:
        """None if the signature is valid (or no secret is set), else why not."""
        if not self.config.secret:
            return None
        msg_id, stamp, sigs = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
        if not (msg_id and stamp and sigs):
            return "missing webhook-id, webhook-timestamp or webhook-signature"
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
            return "timestamp outside the tolerance"
        key = base64.b64decode(self.config.secret.removeprefix("whsec_"))
        expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
        for sig in sigs.split():
            version, _, value = sig.partition(",")
            if version == "v1" and hmac.compare_digest(value.encode(), expected):
                return None
        return "no matching v1 signature"

    def report(self) -> dict[str, Any]:
        """Per case: how many events, duplicates (same id again), gaps and out-of-order arrivals."""
        cases: dict[str, dict[str, Any]] = {}
        for event in self.accepted:
            c = cases.setdefault(event["case_id"], {"received": 0, "duplicates": 0, "out_of_order": 0,
                                                    "sequences": [], "last": 0})
            c["received"] += 1
            if event["duplicate"]:
                c["duplicates"] += 1
                continue
            if event["sequence"] < c["last"]:
                c["out_of_order"] += 1
            c["last"] = max(c["last"], event["sequence"])
            c["sequences"].append(event["sequence"])
        for c in cases.values():
            seen = sorted(set(c["sequences"]))
            c["gaps"] = [n for n in range(1, (seen[-1] if seen else 0) + 1) if n not in seen]
            del c["last"]
        return {"cases": cases, "out_of_order": sum(c["out_of_order"] for c in cases.values()),
                "gaps": sum(len(c["gaps"]) for c in cases.values())}


def receiver_router(receiver: EventReceiver) -> APIRouter:
    router = APIRouter(prefix="/receiver", tags=["event receiver"])

    @router.post("/events")
    async def receive(request: Request) -> Any:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        config = receiver.config
        if config.delay_seconds:
            await asyncio.sleep(config.delay_seconds)
        attempt: dict[str, Any] = {"webhook_id": headers.get("webhook-id"), "at": time.time()}
        receiver.attempts.append(attempt)
        if config.fail_all or config.fail_next:
            if config.fail_next:
                config.fail_next -= 1
            attempt["answer"] = config.fail_status
            return JSONResponse({"detail": "injected failure"}, status_code=config.fail_status)
        problem = receiver.verify(headers, body)
        if problem:
            attempt["answer"] = 401
            return JSONResponse({"detail": problem}, status_code=401)
        event = json.loads(body)
        duplicate = event["id"] in receiver.seen_ids
        receiver.seen_ids.add(event["id"])
        signed = {h: headers.get(h, "") for h in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        receiver.accepted.append({**event, "duplicate": duplicate, "verified": bool(config.secret),
                                  "raw": {"body": body.decode(), "headers": signed}})
        attempt["answer"] = 204
        # No body: a 204 with one (JSONResponse renders "null") makes uvicorn drop the connection
        # after every delivery, so a sender keeping connections alive got ReadErrors and reconnected.
        return Response(status_code=204)

    @router.get("/events")
    async def received() -> dict[str, Any]:
        return {"accepted": receiver.accepted, "attempts": receiver.attempts}

    @router.put("/config")
    async def configure(config: ReceiverConfig) -> dict[str, Any]:
        receiver.config = config
        return {"ok": True}

    @router.get("/report")
    async def report() -> dict[str, Any]:
        return receiver.report()

    return router
