"""The case scripts the harness plays: a request, the steps people and the courier take, and the
outcome expected from the request alone (state, refund, reimbursement), computed here by hand
from DOMAIN.md's money rules rather than by calling ``domain.money``, so a bug there shows up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: The policy's cap on the buyer's reimbursed return leg (faults/policy.toml, ``return_shipping_cap``).
RETURN_SHIPPING_CAP = 2000
TERMINAL = frozenset({"refunded", "completed", "closed"})

#: Who acts: the principal id of the harness tokens file (cli.dev.DEMO_PRINCIPALS).
MERCHANT = "alice"
SUPERVISOR = "sam"
BUYER = "buyer-1"


@dataclass(frozen=True)
class Step:
    """In state ``when``, ``actor`` does ``action`` with ``payload``. Actors ``courier`` and
    ``harness`` are not API principals: the courier moves the return parcel in the sandbox
    (``picked_up``/``delivered``); the harness clears a payment refusal (``clear_refusal``)."""

    when: str
    actor: str
    action: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Script:
    kind: str
    request: dict[str, Any]
    steps: list[Step]
    expected_state: str
    expected_refund: int = 0
    expected_reimbursement: int = 0
    refuse_payment: bool = False
    #: Cases of one multi-case order share a group (the order key) and open at the same moment;
    #: their outcome is checked per order (which of them wins the race is not decided here).
    group: str | None = None
    #: Seconds after the start at which the case is opened.
    open_at: float = 0.0

    @property
    def case_id(self) -> str:
        return str(self.request["case_id"])

    @property
    def ref(self) -> str:
        """How every caller names the case in the API: ``{shop_id}:{case_id}``."""
        return f"{self.request['order']['shop_id']}:{self.case_id}"

    @property
    def order_key(self) -> str:
        return f"{self.request['order']['shop_id']}/{self.request['order']['order_id']}"

    @property
    def paid_total(self) -> int:
        return int(self.request["order"]["paid_total"])

    @property
    def expected_payout(self) -> int:
        return self.expected_refund + self.expected_reimbursement

    @property
    def tracking(self) -> str:
        return "RT" + self.case_id.replace("-", "")[-20:]


def _order(
    order_id: str,
    *,
    unit_price: int,
    shipping_fee: int,
    delivered_days_ago: int = 2,
    quantity: int = 1,
    discount: int = 0,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "order_id": order_id,
        "shop_id": "shop-1",
        "buyer_id": BUYER,
        "currency": "CNY",
        "paid_total": quantity * unit_price + shipping_fee - discount,
        "shipping_fee": shipping_fee,
        "free_shipping": shipping_fee == 0,
        "items": [{"sku": "sku-1", "title": "Kettle", "quantity": quantity, "unit_price": unit_price}],
        "guarantees": [
            {"kind": "no_reason_return", "days": 7},
            {"kind": "exchange", "days": 15},
            {"kind": "warranty", "days": 365},
        ],
        "shipped_at": (now - timedelta(days=delivered_days_ago + 2)).isoformat(),
        "delivered_at": (now - timedelta(days=delivered_days_ago)).isoformat(),
    }


def _return_leg(carrier: str, cost: int, *, received_by: str = "courier") -> list[Step]:
    """Approved return: the buyer ships it, then the courier delivers it (webhook) or the merchant
    confirms receipt at the counter."""
    steps = [
        Step("awaiting_return_shipment", BUYER, "submit_return_shipment", {"carrier": carrier, "shipping_cost": cost}),
        Step("return_in_transit", "courier", "picked_up", {"carrier": carrier}),
    ]
    if received_by == "courier":
        steps.append(Step("return_in_transit", "courier", "delivered", {"carrier": carrier}))
    else:
        steps.append(Step("return_in_transit", MERCHANT, "confirm_return_received", {"note": "at the counter"}))
    return steps


KINDS = (
    "refund_approve",
    "refund_ignored",
    "refund_partial_offer",
    "refund_reject_cancel",
    "refund_refused_resume",
    "return_courier",
    "return_counter",
    "return_no_reason",
    "exchange",
    "repair",
)


def make_script(kind: str, case_id: str, rng: random.Random) -> Script:
    """One case of ``kind`` (see :data:`KINDS`) with amounts drawn from ``rng``."""
    unit_price = rng.randrange(20, 400) * 100
    shipping_fee = rng.choice([0, 0, 600, 1000])
    cost = rng.choice([800, 1200, 1500, 2500])  # 2500 is over the cap
    order = _order(f"o-{case_id}", unit_price=unit_price, shipping_fee=shipping_fee)
    seller_refund = unit_price + shipping_fee  # seller-responsible reason, shipped: shipping comes back too
    leg = min(cost, RETURN_SHIPPING_CAP)
    base = {"case_id": case_id, "order": order, "items": [{"sku": "sku-1", "quantity": 1}]}
    quality = {**base, "reason": "quality_issue", "description": "does not switch off"}

    if kind == "refund_approve":
        return Script(
            kind,
            {**quality, "type": "refund_only"},
            [Step("awaiting_merchant_decision", MERCHANT, "approve")],
            "refunded",
            seller_refund,
        )
    if kind == "refund_ignored":  # the merchant lets its deadline run out: auto-approve, auto-refund
        return Script(kind, {**quality, "type": "refund_only"}, [], "refunded", seller_refund)
    if kind == "refund_partial_offer":
        offer = max(100, unit_price // 2)
        return Script(
            kind,
            {**quality, "type": "refund_only"},
            [
                Step("awaiting_merchant_decision", MERCHANT, "offer_partial_refund", {"amount": offer}),
                Step("awaiting_buyer_response", BUYER, "accept_offer"),
            ],
            "refunded",
            offer,
        )
    if kind == "refund_reject_cancel":
        return Script(
            kind,
            {**quality, "type": "refund_only"},
            [
                Step("awaiting_merchant_decision", MERCHANT, "reject", {"reason": "works as described"}),
                Step("awaiting_buyer_response", BUYER, "cancel", {"note": "fine, keeping it"}),
            ],
            "closed",
        )
    if kind == "refund_refused_resume":  # the provider refuses the payout until the harness clears it
        return Script(
            kind,
            {**quality, "type": "refund_only"},
            [
                Step("awaiting_merchant_decision", MERCHANT, "approve"),
                Step("needs_attention", "harness", "clear_refusal"),
                Step("needs_attention", SUPERVISOR, "resume", {"note": "buyer's account reopened"}),
            ],
            "refunded",
            seller_refund,
            refuse_payment=True,
        )
    inspect_ok = {"passed": True, "responsibility": "product_defect", "note": "defect confirmed"}
    if kind in ("return_courier", "return_counter"):
        return Script(
            kind,
            {**quality, "type": "return_refund"},
            [
                Step("awaiting_merchant_decision", MERCHANT, "approve"),
                *_return_leg("sf-express", cost, received_by="courier" if kind == "return_courier" else "merchant"),
                Step("awaiting_inspection", MERCHANT, "record_inspection", inspect_ok),
            ],
            "refunded",
            seller_refund,
            leg,
        )
    if kind == "return_no_reason":  # buyer-responsible: no original shipping, no return leg
        return Script(
            kind,
            {**base, "type": "return_refund", "reason": "no_reason", "description": "changed my mind"},
            [
                Step("awaiting_merchant_decision", MERCHANT, "approve"),
                *_return_leg("yto", cost),
                Step(
                    "awaiting_inspection",
                    MERCHANT,
                    "record_inspection",
                    {"passed": True, "responsibility": "no_fault", "note": "unused"},
                ),
            ],
            "refunded",
            unit_price,
        )
    if kind in ("exchange", "repair"):  # seller-fault: the buyer's return leg is reimbursed on completion
        return Script(
            kind,
            {**quality, "type": kind},
            [
                Step("awaiting_merchant_decision", MERCHANT, "approve"),
                *_return_leg("zto", cost, received_by="courier" if kind == "exchange" else "merchant"),
                Step("awaiting_inspection", MERCHANT, "record_inspection", inspect_ok),
                Step(
                    "awaiting_merchant_shipment",
                    MERCHANT,
                    "ship_item",
                    {"carrier": "zto", "tracking_number": "OUT" + case_id.replace("-", "")[-20:]},
                ),
                Step("awaiting_buyer_confirmation", BUYER, "confirm_receipt"),
            ],
            "completed",
            0,
            leg,
        )
    raise ValueError(f"unknown script kind {kind!r}")


#: Units of sku-1 on a multi-case order: two or three cases each claim one, so with three the
#: ledger must refuse one of them at opening.
MULTI_QUANTITY = 2
MULTI_KINDS = ("multi_approve", "multi_ignored")


def make_multi_order(kind: str, order_id: str, case_ids: list[str], rng: random.Random) -> list[Script]:
    """Cases of one order (sku-1 x 2, a discount so that the refund ceiling binds), each claiming
    one unit with a seller-responsible refund-only request, opened at the same moment. Whichever
    wins, the order's refunds must add up to exactly what was paid and no more than two may open.
    ``expected_*`` here are for the order, on each case; :func:`order_expectation` reads them."""
    unit_price = rng.randrange(20, 400) * 100
    shipping_fee = rng.choice([0, 600, 1000])
    discount = rng.choice([0, unit_price // 4])
    order = _order(
        order_id, unit_price=unit_price, shipping_fee=shipping_fee, quantity=MULTI_QUANTITY, discount=discount
    )
    steps = [Step("awaiting_merchant_decision", MERCHANT, "approve")] if kind == "multi_approve" else []
    return [
        Script(
            kind,
            {
                "case_id": case_id,
                "order": order,
                "items": [{"sku": "sku-1", "quantity": 1}],
                "type": "refund_only",
                "reason": "quality_issue",
                "description": "does not switch off",
            },
            list(steps),
            "refunded",
            expected_refund=int(order["paid_total"]),  # for the whole order
            group=f"shop-1/{order_id}",
        )
        for case_id in case_ids
    ]


def make_scripts(count: int, seed: int, run_id: str, multi_share: float = 0.0) -> list[Script]:
    """``count`` cases: about ``multi_share`` of them on orders of two or three cases (see
    :func:`make_multi_order`), the rest one per order cycling through every kind (so every type
    and path appears), shuffled."""
    rng = random.Random(seed)
    multi_cases = int(count * multi_share)
    sizes: list[int] = []
    while sum(sizes) < multi_cases:
        sizes.append(min(rng.choice([2, 3]), multi_cases - sum(sizes)))
    if sizes and sizes[-1] < 2:  # a lone leftover case gets an order of its own
        sizes.pop()
    single = count - sum(sizes)
    kinds = [KINDS[i % len(KINDS)] for i in range(single)]
    rng.shuffle(kinds)
    scripts = [make_script(kind, f"f{run_id}-{i:04d}", rng) for i, kind in enumerate(kinds)]
    index = single
    for g, size in enumerate(sizes):
        ids = [f"f{run_id}-{index + j:04d}" for j in range(size)]
        index += size
        scripts += make_multi_order(MULTI_KINDS[g % len(MULTI_KINDS)], f"om{run_id}-{g:04d}", ids, rng)
    spread = count / 5  # seconds over which the cases open (about the stack's opening rate here)
    opening: dict[str, float] = {}
    for script in scripts:
        key = script.group or script.case_id
        script.open_at = opening.setdefault(key, rng.uniform(0, spread))
    return scripts
