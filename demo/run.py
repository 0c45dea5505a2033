"""Play a realistic mix of after-sales cases through the HTTP API, and watch them move.

    aftersales dev --demo                   # starts the stack with demo/policy.toml, then this
    aftersales demo [--api-url URL --sandbox-url URL --tokens-file .data/tokens.json]

Each scenario is a case request plus a script of steps ("in state S, after a pause, do X"): the
people act through the API with their own tokens, the courier moves parcels in the sandbox
(which pushes the webhook to the API), and the deadlines of the compressed policy do the rest.
Case ids carry a timestamp suffix, so the demo can run again and again against the same stack.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from aftersales_client import AfterSalesClient, ApiError
from cli import render

DEMO_POLICY_VERSION = "demo-compressed-1"
TERMINAL = frozenset({"refunded", "completed", "closed"})
#: Timeline details left out of the progress lines (``aftersales show`` has them all).
QUIET_DETAILS = frozenset(
    {
        "policy_version",
        "currency",
        "items",
        "occurred_at",
        "idempotency_key",
        "deadline_at",
        "source",
        "evidence",
        "description",
    }
)


# ------------------------------------------------------------------------------------------
# Requests


def _order(
    suffix: str,
    key: str,
    *,
    buyer: str = "buyer-1",
    title: str,
    unit_price: int,
    quantity: int = 1,
    shipping_fee: int = 0,
    delivered_days_ago: int | None = 2,
    shipped: bool = True,
    guarantees: dict[str, int] | None = None,
) -> dict[str, Any]:
    now = datetime.now(UTC).astimezone()
    order: dict[str, Any] = {
        "order_id": f"demo-{key}-{suffix}",
        "shop_id": "shop-1",
        "buyer_id": buyer,
        "currency": "CNY",
        "paid_total": unit_price * quantity + shipping_fee,
        "shipping_fee": shipping_fee,
        "free_shipping": shipping_fee == 0,
        "items": [{"sku": f"sku-{key}", "title": title, "quantity": quantity, "unit_price": unit_price}],
        "guarantees": [{"kind": k, "days": d} for k, d in (guarantees or {}).items()],
    }
    if shipped:
        days = delivered_days_ago if delivered_days_ago is not None else 1
        order["shipped_at"] = (now - timedelta(days=days + 2)).isoformat()
        if delivered_days_ago is not None:
            order["delivered_at"] = (now - timedelta(days=days)).isoformat()
    return order


def _request(suffix: str, key: str, type_: str, reason: str, order: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "case_id": f"demo-{key}-{suffix}",
        "type": type_,
        "reason": reason,
        "order": order,
        "items": [{"sku": order["items"][0]["sku"], "quantity": 1}],
        **extra,
    }


# ------------------------------------------------------------------------------------------
# Scenarios


@dataclass
class Step:
    """In state ``when``, ``pause`` seconds after the case got there (or after the previous step),
    do ``run(demo, scenario)``."""

    when: str
    label: str
    run: Callable[[Demo, Scenario], Any]
    pause: float = 3.0


@dataclass
class Scenario:
    key: str
    title: str
    request: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    # progress
    view: dict[str, Any] = field(default_factory=dict)
    next_step: int = 0
    last_change: float = 0.0
    timeline_seen: int = 0
    error: str | None = None

    @property
    def case_id(self) -> str:
        return str(self.request["case_id"])

    @property
    def ref(self) -> str:
        """How every caller names the case in the API: ``{shop_id}:{case_id}``."""
        return f"{self.request['order']['shop_id']}:{self.case_id}"

    @property
    def tracking(self) -> str:
        return f"RT{self.case_id.rsplit('-', 1)[-1]}{self.key.upper()[:3]}"

    @property
    def done(self) -> bool:
        return self.error is not None or (self.view.get("state") in TERMINAL and self.next_step >= len(self.steps))


def act(as_: str, action: str, **payload: Any) -> Callable[[Demo, Scenario], Any]:
    return lambda demo, s: demo.api(as_).act(s.ref, action, expected_version=s.view.get("version"), **payload)


def return_shipment(carrier: str, cost: int) -> Callable[[Demo, Scenario], Any]:
    def run(demo: Demo, s: Scenario) -> Any:
        buyer = s.request["order"]["buyer_id"]
        return demo.api(buyer).act(
            s.ref, "submit_return_shipment", carrier=carrier, tracking_number=s.tracking, shipping_cost=cost
        )

    return run


def courier(carrier: str, status: str | None = None) -> Callable[[Demo, Scenario], Any]:
    """Register the return parcel (picked up) or move it one step on; the sandbox pushes the webhook."""

    def run(demo: Demo, s: Scenario) -> Any:
        if status == "picked_up":
            return demo.sandbox_post("/courier/parcels", {"carrier": carrier, "tracking_number": s.tracking})
        return demo.sandbox_post(f"/courier/parcels/{carrier}/{s.tracking}/advance", None)

    return run


def scenarios(suffix: str) -> list[Scenario]:
    """The demo's cases: what happens when nobody acts, and what happens when everyone does."""
    return [
        Scenario(
            "oos",
            "out of stock, the shop does not answer: auto-refund plus compensation when its deadline passes",
            _request(
                suffix,
                "oos",
                "refund_only",
                "out_of_stock",
                _order(
                    suffix, "oos", title="Limited-edition teapot", unit_price=12_900, shipping_fee=800, shipped=False
                ),
                description="The shop says the teapot is out of stock",
            ),
        ),
        Scenario(
            "return",
            "7-day no-reason return on a free-shipping order: approve, ship back, courier, inspect, refund",
            _request(
                suffix,
                "return",
                "return_refund",
                "no_reason",
                _order(suffix, "return", title="Wool scarf", unit_price=19_900, guarantees={"no_reason_return": 7}),
                description="Changed my mind, unused with tags",
            ),
            [
                Step(
                    "awaiting_merchant_decision",
                    "alice approves the return",
                    act("alice", "approve", note="no-reason return within 7 days"),
                ),
                Step("awaiting_return_shipment", "the buyer ships it back", return_shipment("sf-express", 1_200)),
                Step("return_in_transit", "courier: picked up", courier("sf-express", "picked_up"), 2),
                Step("return_in_transit", "courier: in transit", courier("sf-express")),
                Step("return_in_transit", "courier: delivered", courier("sf-express")),
                Step(
                    "awaiting_inspection",
                    "alice inspects: fine",
                    act(
                        "alice",
                        "record_inspection",
                        passed=True,
                        responsibility="no_fault",
                        note="unused, tags attached",
                    ),
                ),
            ],
        ),
        Scenario(
            "exchange",
            "kettle with a defect exchanged: return, inspection, replacement shipped and confirmed",
            _request(
                suffix,
                "exchange",
                "exchange",
                "quality_issue",
                _order(
                    suffix,
                    "exchange",
                    title="Electric kettle",
                    unit_price=25_900,
                    shipping_fee=1_000,
                    delivered_days_ago=3,
                    guarantees={"no_reason_return": 7, "exchange": 15},
                ),
                description="Switch does not turn off",
                evidence=["https://example.com/kettle.mp4"],
            ),
            [
                Step("awaiting_merchant_decision", "alice approves the exchange", act("alice", "approve")),
                Step("awaiting_return_shipment", "the buyer ships it back", return_shipment("yto", 1_500)),
                Step("return_in_transit", "courier: picked up", courier("yto", "picked_up"), 2),
                Step("return_in_transit", "courier: in transit", courier("yto")),
                Step("return_in_transit", "courier: delivered", courier("yto")),
                Step(
                    "awaiting_inspection",
                    "alice inspects: product defect",
                    act(
                        "alice",
                        "record_inspection",
                        passed=True,
                        responsibility="product_defect",
                        note="thermostat faulty",
                    ),
                ),
                Step(
                    "awaiting_merchant_shipment",
                    "alice ships the replacement",
                    act("alice", "ship_item", carrier="sf-express", tracking_number=f"SF{suffix}"),
                ),
                Step("awaiting_buyer_confirmation", "the buyer confirms receipt", act("buyer-1", "confirm_receipt")),
            ],
        ),
        Scenario(
            "repair",
            "one-year warranty repair: parcel received at the counter, repaired, sent back",
            _request(
                suffix,
                "repair",
                "repair",
                "quality_issue",
                _order(
                    suffix,
                    "repair",
                    title="Water purifier",
                    unit_price=59_900,
                    delivered_days_ago=60,
                    guarantees={"warranty": 365},
                ),
                description="Leaks after two months",
            ),
            [
                Step("awaiting_merchant_decision", "sam approves the repair", act("sam", "approve")),
                Step("awaiting_return_shipment", "the buyer ships it in", return_shipment("zto", 1_800)),
                Step("return_in_transit", "courier: picked up", courier("zto", "picked_up"), 2),
                Step(
                    "return_in_transit",
                    "alice confirms the parcel arrived",
                    act("alice", "confirm_return_received", note="received at the service counter"),
                ),
                Step(
                    "awaiting_inspection",
                    "alice inspects: product defect",
                    act(
                        "alice",
                        "record_inspection",
                        passed=True,
                        responsibility="product_defect",
                        note="seal replaced under warranty",
                    ),
                ),
                Step(
                    "awaiting_merchant_shipment",
                    "alice ships it back",
                    act("alice", "ship_item", carrier="zto", tracking_number=f"ZT{suffix}"),
                ),
                Step("awaiting_buyer_confirmation", "the buyer confirms receipt", act("buyer-1", "confirm_receipt")),
            ],
        ),
        Scenario(
            "dispute",
            "refused request: the buyer escalates, the platform grants a partial refund",
            _request(
                suffix,
                "dispute",
                "refund_only",
                "not_as_described",
                _order(
                    suffix,
                    "dispute",
                    buyer="buyer-2",
                    title="Linen shirt (blue)",
                    unit_price=39_900,
                    delivered_days_ago=1,
                    guarantees={"no_reason_return": 7},
                ),
                requested_refund=39_900,
                description="The shirt is grey, the listing says blue",
                evidence=["https://example.com/shirt.jpg"],
            ),
            [
                Step(
                    "awaiting_merchant_decision",
                    "alice refuses",
                    act(
                        "alice", "reject", reason="the photos match the listing; the colour difference is the lighting"
                    ),
                ),
                Step(
                    "awaiting_buyer_response",
                    "the buyer escalates",
                    act(
                        "buyer-2",
                        "escalate",
                        note="daylight photo attached",
                        evidence=["https://example.com/shirt-daylight.jpg"],
                    ),
                ),
                Step(
                    "in_arbitration",
                    "the platform decides: partial refund",
                    act(
                        "arbiter",
                        "arbitrate",
                        outcome="refund_partial",
                        amount=15_000,
                        note="colour differs noticeably; buyer keeps it",
                    ),
                ),
            ],
        ),
    ]


def ineligible_request(suffix: str) -> dict[str, Any]:
    """A no-reason return three weeks after delivery: the 7-day window is over."""
    return _request(
        suffix,
        "late",
        "return_refund",
        "no_reason",
        _order(
            suffix,
            "late",
            title="Desk lamp",
            unit_price=8_900,
            delivered_days_ago=21,
            guarantees={"no_reason_return": 7},
        ),
    )


# ------------------------------------------------------------------------------------------
# Running


class Demo:
    def __init__(
        self, api_url: str, sandbox_url: str, tokens: dict[str, dict[str, str]], out: Callable[[str], None] = print
    ) -> None:
        self.api_url = api_url
        self.tokens = tokens
        self.out = out
        self.sandbox = httpx.Client(base_url=sandbox_url, timeout=30)
        self.sandbox_url = sandbox_url.rstrip("/")
        self._clients: dict[str, AfterSalesClient] = {}
        self.started = time.monotonic()

    def api(self, principal_id: str) -> AfterSalesClient:
        if principal_id not in self._clients:
            token = next((t for t, p in self.tokens.items() if p.get("id") == principal_id), None)
            if token is None:
                raise SystemExit(f"demo: the tokens file has no token for {principal_id}")
            self._clients[principal_id] = AfterSalesClient(self.api_url, token)
        return self._clients[principal_id]

    def system(self) -> AfterSalesClient:
        principal = next((p["id"] for p in self.tokens.values() if p.get("role") == "system"), "shop-backend")
        return self.api(principal)

    def sandbox_post(self, path: str, body: Any) -> Any:
        response = self.sandbox.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def say(self, text: str) -> None:
        elapsed = int(time.monotonic() - self.started)
        self.out(f"[+{elapsed // 60:02d}:{elapsed % 60:02d}] {text}")

    def subscribe_receiver(self) -> str | None:
        """Subscribe the sandbox's event receiver to every event of shop-1 (signed with a fresh
        secret the receiver verifies); the subscription's id, or None if the API has no events."""
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.sandbox.put("/receiver/config", json={"secret": secret}).raise_for_status()
        token = next(t for t, p in self.tokens.items() if p.get("role") == "system")
        response = httpx.post(f"{self.api_url}/v1/subscriptions", headers={"Authorization": f"Bearer {token}"},
                              json={"url": f"{self.sandbox_url}/receiver/events",
                                    "secret": secret, "types": ["*"], "shop_id": "shop-1"}, timeout=30)
        if response.status_code != 201:
            self.out(f"events: could not subscribe the sandbox receiver ({response.status_code} {response.text})")
            return None
        return str(response.json()["id"])

    def events_report(self, items: list[Scenario], subscription: str, wait: float = 20.0) -> str:
        """What the receiver got for our cases: events, per-case order, and the end of each case."""
        ours = {s.case_id for s in items}
        deadline = time.monotonic() + wait
        while True:
            accepted = [e for e in self.sandbox.get("/receiver/events").json()["accepted"] if e["case_id"] in ours]
            ended = {e["case_id"] for e in accepted if e["type"] == "case.ended"}
            if ended >= {s.case_id for s in items if s.done and not s.error} or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        token = next(t for t, p in self.tokens.items() if p.get("role") == "system")
        httpx.delete(f"{self.api_url}/v1/subscriptions/{subscription}", headers={"Authorization": f"Bearer {token}"})
        by_case: dict[str, list[int]] = {}
        for e in accepted:
            if not e["duplicate"]:
                by_case.setdefault(e["case_id"], []).append(e["sequence"])
        disorder = sum(1 for seqs in by_case.values() for a, b in zip(seqs, seqs[1:], strict=False) if b < a)
        missing = sum(max(seqs) - len(set(seqs)) for seqs in by_case.values())
        types: dict[str, int] = {}
        for e in accepted:
            types[e["type"]] = types.get(e["type"], 0) + 1
        return (f"events: the sandbox receiver verified {len(accepted)} signed events for {len(by_case)} cases "
                f"({', '.join(f'{n} {t}' for t, n in sorted(types.items()))}); "
                f"{disorder} out of order, {missing} missing")

    def close(self) -> None:
        self.sandbox.close()
        for client in self._clients.values():
            client.close()

    # -------------------------------------------------------------------------------------

    def open(self, s: Scenario) -> None:
        try:
            result = self.system().open_case(s.request)
        except ApiError as err:
            s.error = f"not opened: {err}"
            self.say(f"{s.key:<9} could not be opened: {err}")
            return
        s.view = dict(self.system().get_case(s.ref)) if "state" not in result else result
        s.last_change = time.monotonic()
        self.say(f"{s.key:<9} opened {s.case_id}: {s.title}")
        self._report(s, previous_state=None)

    def poll(self, s: Scenario) -> None:
        previous = s.view.get("state")
        s.view = dict(self.system().get_case(s.ref))
        self._report(s, previous)
        if s.view.get("state") != previous:
            s.last_change = time.monotonic()

    def drive(self, s: Scenario) -> None:
        if s.next_step >= len(s.steps) or s.error:
            return
        step = s.steps[s.next_step]
        if s.view.get("state") != step.when or time.monotonic() - s.last_change < step.pause:
            return
        self.say(f"{s.key:<9} > {step.label}")
        try:
            result = step.run(self, s)
        except ApiError as err:
            if err.status == 409 and "version" in err.detail:
                return  # the case moved meanwhile (a reminder, a scan): look again and retry
            s.error = f"{step.label}: {err}"
            self.say(f"{s.key:<9} ! {step.label} refused: {err}")
            return
        except httpx.HTTPError as err:
            s.error = f"{step.label}: {err}"
            self.say(f"{s.key:<9} ! {step.label} failed: {err}")
            return
        s.next_step += 1
        s.last_change = time.monotonic()
        if isinstance(result, dict) and "state" in result:
            previous = s.view.get("state")
            s.view = result
            self._report(s, previous)

    def _report(self, s: Scenario, previous_state: str | None) -> None:
        view = s.view
        timeline = view.get("timeline") or []
        currency = (view.get("refund") or {}).get("currency")
        for entry in timeline[s.timeline_seen :]:
            actor = entry.get("actor") or {}
            who = f"{actor.get('role')}:{actor.get('id')}"
            detail = render.detail_text(entry.get("detail") or {}, currency, skip=QUIET_DETAILS)
            self.say(f"{s.key:<9}     {who:<20} {entry.get('action'):<24} {detail}".rstrip())
        s.timeline_seen = len(timeline)
        state = view.get("state")
        if state != previous_state:
            line = f"{s.key:<9} = {state}"
            if view.get("close_reason"):
                line += f" ({view['close_reason']})"
            if view.get("waiting_on"):
                line += f", waiting on {view['waiting_on']}"
            deadline = view.get("deadline_detail") or {}
            if view.get("deadline"):
                line += f" until {render.clock(view['deadline'])}"
                if deadline:
                    line += f" (then: {deadline.get('on_expiry')})"
            self.say(line)


def _outcome_table(items: list[Scenario], ledger: dict[str, Any]) -> str:
    paid: dict[str, int] = {}
    for payout in ledger.get("payouts", []):
        paid[payout["case_id"]] = paid.get(payout["case_id"], 0) + payout["amount"]
    rows = []
    for s in items:
        view, refund = s.view, s.view.get("refund") or {}
        state = str(view.get("state", "-"))
        if view.get("close_reason"):
            state += f" ({view['close_reason']})"
        rows.append(
            [
                s.key,
                s.case_id,
                view.get("type", s.request["type"]),
                state,
                render.money(refund.get("refund"), "CNY") if refund else "-",
                render.money(refund.get("reimbursement"), "CNY") if refund else "-",
                render.money(paid.get(s.case_id, 0), "CNY"),
            ]
            + ([s.error or ""] if any(i.error for i in items) else [])
        )
    headers = ["scenario", "case", "type", "outcome", "refund", "reimbursed", "paid (ledger)"]
    return render.table(rows, headers + (["problem"] if any(i.error for i in items) else []))


def shops_report(demo: Demo, shops: set[str]) -> str:
    """Each shop's report (``GET /v1/reports``, read as the operator) from yesterday to tomorrow (UTC)."""
    from reports.figures import Report
    from reports.text import table

    operator = next((p["id"] for p in demo.tokens.values() if p.get("role") == "operator"), None)
    if operator is None:
        return "(no operator token in the tokens file: no report)"
    today = datetime.now(UTC).date()
    start, end = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()
    parts = []
    for shop in sorted(shops):
        try:
            parts.append(table(Report.model_validate(demo.api(operator).get_report(start, end, shop)), "en"))
        except ApiError as err:
            parts.append(f"report of {shop}: {err}")
    return "\n\n".join(parts)


def run_demo(
    api_url: str,
    sandbox_url: str,
    tokens_path: str | Path,
    *,
    timeout: float = 420.0,
    poll_seconds: float = 1.0,
    out: Callable[[str], None] = print,
) -> int:
    """Play the scenarios; 0 when every case ended as scripted, 1 otherwise."""
    path = Path(tokens_path)
    if not path.exists():
        out(f"demo: no tokens file at {path}; start the stack with `aftersales dev` (it writes one)")
        return 2
    tokens = json.loads(path.read_text(encoding="utf-8"))
    suffix = datetime.now().strftime("%m%d%H%M%S")
    items = scenarios(suffix)
    demo = Demo(api_url, sandbox_url, tokens, out)
    try:
        out(f"demo {suffix}: {len(items)} cases through {api_url}, courier and payments in {sandbox_url}")
        subscription = demo.subscribe_receiver()
        try:
            demo.system().open_case(ineligible_request(suffix))
            demo.say("late      ! an out-of-window return was accepted (expected a refusal)")
        except ApiError as err:
            demo.say(f"late      refused as expected ({err.status}): {err.detail}")
        for s in items:
            demo.open(s)
        version = next((s.view.get("policy_version") for s in items if s.view), None)
        if version and version != DEMO_POLICY_VERSION:
            out(
                f"note: the API runs policy {version}, not {DEMO_POLICY_VERSION}; automatic outcomes wait for the "
                "real deadlines. Start the stack with `aftersales dev --demo` for minutes instead of days."
            )
        deadline = time.monotonic() + timeout
        while not all(s.done for s in items) and time.monotonic() < deadline:
            time.sleep(poll_seconds)
            for s in items:
                if s.done:
                    continue
                try:
                    demo.poll(s)
                    demo.drive(s)
                except ApiError as err:
                    demo.say(f"{s.key:<9} ! {err}")
        unfinished = [s for s in items if not s.done]
        for s in unfinished:
            s.error = f"still {s.view.get('state')} after {timeout:.0f}s, waiting on {s.view.get('waiting_on')}"
        try:
            ledger = demo.sandbox.get("/payments/ledger").json()
        except (httpx.HTTPError, ValueError):
            ledger = {}
        ours = {s.case_id for s in items}
        mine = {"payouts": [p for p in ledger.get("payouts", []) if p.get("case_id") in ours]}
        out("")
        out(_outcome_table(items, mine))
        total = sum(p["amount"] for p in mine["payouts"])
        out("")
        out(
            f"sandbox ledger: this run paid {render.money(total, 'CNY')} in {len(mine['payouts'])} payouts; "
            f"all runs: {ledger.get('count', '?')} payouts, "
            + ", ".join(render.money(v, k) for k, v in (ledger.get("total") or {}).items())
        )
        if subscription is not None:
            out(demo.events_report(items, subscription))
        out("")
        out(shops_report(demo, {s.request["order"]["shop_id"] for s in items}))
        return 0 if not any(s.error for s in items) else 1
    finally:
        demo.close()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", default="http://127.0.0.1:8000")
    parser.add_argument("--sandbox-url", default="http://127.0.0.1:8700")
    parser.add_argument("--tokens-file", default=".data/tokens.json")
    parser.add_argument("--timeout", type=float, default=420.0)
    ns = parser.parse_args()
    sys.exit(run_demo(ns.api_url, ns.sandbox_url, ns.tokens_file, timeout=ns.timeout))
