"""The payment provider: idempotent payouts, a ledger, and faults injected on demand.

A payout is recorded under its idempotency key (the ``Idempotency-Key`` header, or the body's
``idempotency_key``). The same key again answers ``200`` with the recorded payout and
``"replayed": true`` and never records a second one; the same key with a different body answers
``422``: a permanent refusal, since retrying cannot make it right (a human must look). Faults (see ``PaymentFaults``) apply to ``POST /payouts`` only; lookups by key always
answer, which is what lets a client find out that a payout whose answer it lost did go through.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from sandbox.models import DropMode, PaymentCounters, PaymentFaults, PaymentFaultsPatch, Payout, PayoutBody
from sandbox.store import Store


class ConnectionDropped(Exception):
    """Raised mid-response so that the server closes the connection (fault ``drop_mode=disconnect``)."""


class _DroppedConnection(Response):
    """Starts a response, then breaks off: the server closes the connection and the client sees a
    protocol error, not an answer. (Under ``httpx.ASGITransport`` the exception reaches the client.)"""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        raise ConnectionDropped("injected fault: connection dropped after the payout was recorded")


class PaymentProvider:
    """The payment provider's behaviour, independent of HTTP routing."""

    def __init__(self, store: Store, faults: PaymentFaults | None = None) -> None:
        self._store = store
        self._start_faults = (faults or PaymentFaults()).model_copy(deep=True)
        self.faults: PaymentFaults
        self.counters: PaymentCounters
        self._rng: random.Random
        self.reset()

    def reset(self) -> None:
        """Back to the start-up faults, a fresh random sequence and zero counters."""
        self.faults = self._start_faults.model_copy(deep=True)
        self._rng = random.Random(self.faults.seed)
        self.counters = PaymentCounters()

    def update_faults(self, patch: PaymentFaultsPatch) -> PaymentFaults:
        changes = patch.model_dump(exclude_unset=True, exclude_none=True)
        self.faults = PaymentFaults.model_validate({**self.faults.model_dump(), **changes})
        if "seed" in changes:
            self._rng = random.Random(self.faults.seed)
        return self.faults

    def lookup(self, idempotency_key: str) -> Payout | None:
        self.counters.lookups += 1
        return self._store.payouts.get(idempotency_key)

    async def pay(self, body: PayoutBody, header_key: str | None) -> Response:
        """Handle one ``POST /payouts``; see the module docstring for the answers."""
        self.counters.calls += 1
        faults = self.faults
        if self._roll(faults.fail_rate):
            self.counters.failures_injected += 1
            return _error(faults.fail_status, "injected fault: provider unavailable")

        key = header_key or body.idempotency_key
        if key != body.idempotency_key:
            return _error(400, "the Idempotency-Key header and the body's idempotency_key differ")
        fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()

        existing = self._store.payouts.get(key)
        if existing is not None:
            if existing.request_fingerprint != fingerprint:
                self.counters.conflicts += 1
                return _error(422, f"idempotency key {key!r} was already used for a different payout")
            self.counters.replayed += 1
            return JSONResponse({**existing.public(), "replayed": True}, status_code=200)

        if body.case_id in faults.refuse_case_ids or body.buyer_id in faults.refuse_accounts:
            self.counters.refused += 1
            return _error(422, "buyer's account is closed")

        payout = Payout(
            payment_id=f"pay-{len(self._store.payouts) + 1:06d}",
            idempotency_key=key,
            amount=body.refund + body.reimbursement,
            currency=body.currency,
            case_id=body.case_id,
            order_id=body.order_id,
            shop_id=body.shop_id,
            buyer_id=body.buyer_id,
            refund=body.refund,
            reimbursement=body.reimbursement,
            lines=body.lines,
            paid_at=datetime.now(UTC).isoformat(),
            request_fingerprint=fingerprint,
        )
        self._store.add_payout(payout)
        self.counters.recorded += 1

        # Both faults below come after recording: the money moved, the client does not know it.
        if self._roll(faults.slow_rate):
            self.counters.slow_injected += 1
            await asyncio.sleep(faults.slow_seconds)
        if self._roll(faults.drop_after_record_rate):
            self.counters.drops_injected += 1
            if faults.drop_mode is DropMode.DISCONNECT:
                return _DroppedConnection()
            return _error(500, "injected fault: answer lost after recording")
        return JSONResponse({**payout.public(), "replayed": False}, status_code=201)

    def ledger(self, case_id: str | None = None, order_id: str | None = None) -> dict[str, Any]:
        """Payouts in the order they were recorded, with totals per currency, case and order."""
        candidates = self._store.payouts_by_case.get(case_id, []) if case_id is not None else self._store.payouts.values()
        payouts = [p for p in candidates if order_id is None or p.order_id == order_id]
        total: dict[str, int] = defaultdict(int)
        by_case: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        by_order: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for p in payouts:
            total[p.currency] += p.amount
            by_case[p.case_id][p.currency] += p.amount
            by_order[f"{p.shop_id}/{p.order_id}"][p.currency] += p.amount
        return {
            "payouts": [p.public() for p in payouts],
            "count": len(payouts),
            "total": dict(total),
            "by_case": {k: dict(v) for k, v in by_case.items()},
            "by_order": {k: dict(v) for k, v in by_order.items()},
        }

    def _roll(self, rate: float) -> bool:
        # No draw for 0 and 1, so switching one fault fully on or off does not shift the others.
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        return self._rng.random() < rate


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def payments_router(provider: PaymentProvider) -> APIRouter:
    """The payment provider's routes, under ``/payments``."""
    router = APIRouter(prefix="/payments", tags=["payments"])

    @router.post("/payouts", status_code=201)
    async def create_payout(
        body: PayoutBody, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
    ) -> Response:
        """Pay out once per idempotency key: ``201`` new, ``200`` replayed, ``422`` key reused with a
        different body, ``422`` refused, ``5xx`` injected failure."""
        return await provider.pay(body, idempotency_key)

    @router.get("/payouts/{idempotency_key}")
    async def get_payout(idempotency_key: str) -> Response:
        """The payout recorded under this key, or ``404``."""
        payout = provider.lookup(idempotency_key)
        if payout is None:
            return _error(404, f"no payout with idempotency key {idempotency_key!r}")
        return JSONResponse(payout.public())

    @router.get("/ledger")
    async def get_ledger(
        case_id: Annotated[str | None, Query()] = None, order_id: Annotated[str | None, Query()] = None
    ) -> dict[str, Any]:
        """Every payout in recording order, optionally for one case or order, with totals."""
        return provider.ledger(case_id, order_id)

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        """The faults in force and the counters."""
        return {"faults": provider.faults.model_dump(mode="json"), "counters": provider.counters.model_dump()}

    @router.post("/faults")
    async def set_faults(patch: PaymentFaultsPatch) -> dict[str, Any]:
        """Change some faults at run time; fields left out keep their value."""
        provider.update_faults(patch)
        return {"faults": provider.faults.model_dump(mode="json"), "counters": provider.counters.model_dump()}

    return router
