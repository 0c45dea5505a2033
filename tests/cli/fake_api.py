"""A stand-in for the HTTP API behind ``httpx.MockTransport``: canned answers, recorded requests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


def case_view(case_id: str = "c-1", **overrides: Any) -> dict[str, Any]:
    """A case view as the API answers it (``shared/API.md``)."""
    view: dict[str, Any] = {
        "case_id": case_id,
        "type": "return_refund",
        "reason": "quality_issue",
        "order_id": "o-1",
        "shop_id": "shop-1",
        "buyer_id": "buyer-1",
        "state": "awaiting_merchant_decision",
        "waiting_on": "merchant",
        "deadline": "2030-01-01T12:00:00+00:00",
        "deadline_detail": {
            "kind": "merchant_decision",
            "at": "2030-01-01T12:00:00+00:00",
            "on_expiry": "auto-approve the return",
        },
        "close_reason": None,
        "dispute_risk": False,
        "refund": {
            "amount": 11_200,
            "refund": 11_000,
            "reimbursement": 200,
            "currency": "CNY",
            "status": "none",
            "breakdown": [
                {"kind": "items", "amount": 10_000, "note": ""},
                {"kind": "original_shipping", "amount": 1_000, "note": ""},
                {"kind": "return_shipping", "amount": 200, "note": "capped"},
            ],
            "payment_id": None,
        },
        "policy_version": "demo-1",
        "version": 3,
        "created_at": "2029-12-30T12:00:00+00:00",
        "updated_at": "2029-12-30T12:00:00+00:00",
        "timeline": [
            {
                "at": "2029-12-30T12:00:00+00:00",
                "actor": {"role": "system", "id": "shop-backend"},
                "action": "opened",
                "detail": {"type": "return_refund", "requested_refund": 11_000},
            }
        ],
        "next_actions": ["approve", "reject", "cancel", "add_note"],
        "actions_by_role": {
            "staff": ["approve", "reject", "add_note"],
            "supervisor": ["approve", "reject", "add_note"],
            "buyer": ["cancel", "add_note"],
        },
    }
    view.update(overrides)
    return view


@dataclass
class FakeApi:
    """Routes by (method, path); a route is a response or a function of the request."""

    routes: dict[tuple[str, str], httpx.Response | Callable[[httpx.Request], httpx.Response]] = field(
        default_factory=dict
    )
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, answer: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.routes[(method, path)] = answer

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"detail": f"case not found ({request.url.path})"})
        return answer(request) if callable(answer) else answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def async_transport(self) -> httpx.MockTransport:
        async def handle(request: httpx.Request) -> httpx.Response:
            await request.aread()
            return self.handler(request)

        return httpx.MockTransport(handle)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)
