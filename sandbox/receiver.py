"""A webhook receiver for the pipeline's outbound events, as an integrator's backend would run
one, with failure injection.

    POST /receiver/events     receive one event (Standard Webhooks headers); verified when a
                              secret is set; 503/500/... while a fault is on
    GET  /receiver/events     what arrived: every attempt's outcome and the accepted events
    GET  /receiver/received   the accepted events, compact (id, case, sequence), and the faults
    GET  /receiver/faults     the faults injected since the process started, and the configuration
    PUT  /receiver/config     {secret?, fail_next?, fail_status?, fail_all?, fail_rate?, slow_rate?,
                              slow_seconds?, seed?, delay_seconds?}
    GET  /receiver/report     per case: events received, duplicates, gaps and out-of-order arrivals

Failure injection: ``fail_next``/``fail_all`` answer ``fail_status``; ``fail_rate`` answers a share
of deliveries with ``fail_status`` at random; ``slow_rate`` holds a share for ``slow_seconds``
before accepting them (longer than the sender's timeout: the sender sees a timeout, the event
was received anyway, and its redelivery is a duplicate, as with a real slow backend).

An accepted event is written to the sandbox's store (SQLite with ``--state-file``) before the
``204``: what was acknowledged survives a SIGKILL of the sandbox, as an integrator's database
would (the fault harness compares it with the event store). Attempts and the configuration are
run-time state, gone with the process.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from sandbox.store import Store

TOLERANCE_SECONDS = 5 * 60


class ReceiverConfig(BaseModel):
    secret: str | None = Field(default=None, description="whsec_... to verify signatures with; none: accept unsigned")
    fail_next: int = Field(default=0, ge=0, description="answer the next N deliveries with fail_status")
    fail_all: bool = Field(default=False, description="answer every delivery with fail_status until turned off")
    fail_status: int = Field(default=503, ge=400, le=599)
    delay_seconds: float = Field(default=0.0, ge=0, le=60, description="wait this long before answering")
    fail_rate: float = Field(default=0.0, ge=0, le=1, description="share of deliveries answered with fail_status")
    slow_rate: float = Field(default=0.0, ge=0, le=1, description="share of deliveries held slow_seconds, then accepted")
    slow_seconds: float = Field(default=15.0, ge=0, le=120)
    seed: int | None = Field(default=None, description="seed of the random faults (none: not reproducible)")


@dataclass
class EventReceiver:
    store: Store = field(default_factory=lambda: Store(None))
    config: ReceiverConfig = field(default_factory=ReceiverConfig)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    #: injected faults since the process started: failures (fail_* answers) and slow answers
    counters: dict[str, int] = field(default_factory=lambda: {"failures_injected": 0, "slow_injected": 0})
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.seen_ids = {str(e.get("id")) for e in self.store.received}

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """Every accepted delivery, oldest first (redeliveries included, marked ``duplicate``)."""
        return self.store.received

    def configure(self, config: ReceiverConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)

    def reset(self) -> None:
        self.configure(ReceiverConfig())
        self.store.clear_received()
        self.attempts.clear()
        self.seen_ids.clear()
        self.counters = {k: 0 for k in self.counters}

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
        if config.fail_all or config.fail_next or (config.fail_rate and receiver.rng.random() < config.fail_rate):
            if config.fail_next:
                config.fail_next -= 1
            receiver.counters["failures_injected"] += 1
            attempt["answer"] = config.fail_status
            return JSONResponse({"detail": "injected failure"}, status_code=config.fail_status)
        if config.slow_rate and receiver.rng.random() < config.slow_rate:
            receiver.counters["slow_injected"] += 1
            attempt["slow"] = config.slow_seconds
            await asyncio.sleep(config.slow_seconds)
        problem = receiver.verify(headers, body)
        if problem:
            attempt["answer"] = 401
            return JSONResponse({"detail": problem}, status_code=401)
        event = json.loads(body)
        duplicate = event["id"] in receiver.seen_ids
        signed = {h: headers.get(h, "") for h in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        # Committed before the 204: an acknowledged event is on file even if the sandbox dies next.
        receiver.store.add_received({**event, "duplicate": duplicate, "verified": bool(config.secret),
                                     "raw": {"body": body.decode(), "headers": signed}})
        receiver.seen_ids.add(event["id"])
        attempt["answer"] = 204
        # No body: a 204 with one (JSONResponse renders "null") makes uvicorn drop the connection
        # after every delivery, so a sender keeping connections alive got ReadErrors and reconnected.
        return Response(status_code=204)

    @router.get("/events")
    async def received() -> dict[str, Any]:
        return {"accepted": receiver.accepted, "attempts": receiver.attempts}

    @router.get("/received")
    async def received_compact() -> dict[str, Any]:
        """The accepted deliveries in arrival order, without bodies: what a checker compares."""
        keys = ("id", "type", "case_id", "shop_id", "version", "sequence", "duplicate")
        return {"received": [{k: e.get(k) for k in keys} for e in receiver.accepted],
                "attempts": len(receiver.attempts), "counters": receiver.counters}

    @router.get("/faults")
    async def faults() -> dict[str, Any]:
        """The injected faults since the process started, and the configuration (not the secret)."""
        return {"counters": receiver.counters, "config": receiver.config.model_dump(exclude={"secret"})}

    @router.put("/config")
    async def configure(config: ReceiverConfig) -> dict[str, Any]:
        receiver.configure(config)
        return {"ok": True}

    @router.get("/report")
    async def report() -> dict[str, Any]:
        return receiver.report()

    return router
