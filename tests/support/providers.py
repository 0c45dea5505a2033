"""In-memory stand-ins for the payment provider, the courier and the notification channel,
served to the real activity classes through ``httpx.MockTransport``.

They speak the same HTTP contract as the provider sandbox, and keep what tests assert on: the
payout ledger (by idempotency key), the notification inbox, the parcels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class FakeProviders:
    payouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    payout_calls: int = 0
    refuse_payouts_for: set[str] = field(default_factory=set)  # case ids whose payout gets a 422
    fail_next_payouts: int = 0  # answer 503 this many times
    lose_next_payout_answers: int = 0  # record the payout, then answer 503 (the answer is lost)
    messages: list[dict[str, Any]] = field(default_factory=list)
    parcels: dict[str, dict[str, Any]] = field(default_factory=dict)

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/payments/payouts"):
            return self._payments(request, path.removeprefix("/payments/payouts").strip("/"))
        if path == "/notify/messages":
            self.messages.append(json.loads(request.content))
            return httpx.Response(202, json={"accepted": True})
        if path.startswith("/courier/parcels/"):
            _, _, _, carrier, tracking = path.split("/")
            parcel = self.parcels.get(tracking)
            if parcel is None:
                return httpx.Response(404, json={"detail": "unknown tracking number"})
            return httpx.Response(200, json=parcel)
        return httpx.Response(404, json={"detail": f"no route {path}"})

    def _payments(self, request: httpx.Request, key: str) -> httpx.Response:
        if request.method == "GET":
            payout = self.payouts.get(key)
            return httpx.Response(200, json=payout) if payout else httpx.Response(404, json={"detail": "no payout"})
        self.payout_calls += 1
        body = json.loads(request.content)
        if self.fail_next_payouts > 0:
            self.fail_next_payouts -= 1
            return httpx.Response(503, json={"detail": "provider overloaded"})
        if body["case_id"] in self.refuse_payouts_for:
            return httpx.Response(422, json={"detail": "buyer's account is closed"})
        idem = request.headers["Idempotency-Key"]
        if idem in self.payouts:
            return httpx.Response(200, json={**self.payouts[idem], "replayed": True})
        payout = {
            "payment_id": f"pay-{len(self.payouts) + 1}",
            "amount": body["refund"] + body["reimbursement"],
            "currency": body["currency"],
            "case_id": body["case_id"],
            "shop_id": body["shop_id"],
            "order_id": body["order_id"],
            "refund": body["refund"],
            "reimbursement": body["reimbursement"],
        }
        self.payouts[idem] = payout
        if self.lose_next_payout_answers > 0:
            self.lose_next_payout_answers -= 1
            return httpx.Response(503, json={"detail": "gateway timeout after the payout was recorded"})
        return httpx.Response(201, json=payout)

    def paid_for(self, case_id: str) -> list[dict[str, Any]]:
        return [p for p in self.payouts.values() if p["case_id"] == case_id]

    def messages_for(self, case_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["case_id"] == case_id and (kind is None or m["kind"] == kind)]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
