"""Money and who pays shipping (DOMAIN.md, "Money and who pays shipping").

Integers in minor units only. A payout has refund lines (what the buyer paid, capped by the
order's paid total across all its cases) and reimbursement lines (return shipping,
out-of-stock compensation) that are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.models import (
    REFUND_LINES,
    BreakdownLine,
    CaseRequest,
    ClaimGrant,
    ClaimItem,
    LineKind,
    Order,
    Reason,
)
from domain.policy import Policy

SELLER_RESPONSIBLE = frozenset(
    {
        Reason.QUALITY_ISSUE,
        Reason.NOT_AS_DESCRIBED,
        Reason.WRONG_ITEM,
        Reason.MISSING_ITEM,
        Reason.DAMAGED_IN_TRANSIT,
        # A parcel that never arrived or an order the shop cannot fill is the seller's doing too.
        Reason.NOT_RECEIVED,
        Reason.OUT_OF_STOCK,
    }
)
BUYER_RESPONSIBLE = frozenset({Reason.NO_REASON, Reason.CHANGED_MIND})


def items_value(order: Order, items: Iterable[ClaimItem]) -> int:
    """Quantity claimed times unit price, summed."""
    total = 0
    for claim in items:
        line = order.item(claim.sku)
        if line is None:
            raise KeyError(claim.sku)
        total += claim.quantity * line.unit_price
    return total


def remaining_quantities(order: Order, claimed: Mapping[str, int]) -> dict[str, int]:
    return {i.sku: i.quantity - claimed.get(i.sku, 0) for i in order.items}


def original_shipping_included(
    request: CaseRequest,
    *,
    covers_rest_of_order: bool,
    shipping_already_refunded: bool,
) -> bool:
    """Whether this case's refund gives back the order's original shipping fee.

    Refunded at most once per order; not shipped yet: when the case covers everything the
    order has not yet refunded; shipped: when the reason is the seller's responsibility.
    Buyer-responsible reasons never include it (on a free-shipping order there is none).
    """
    order = request.order
    if shipping_already_refunded or order.shipping_fee == 0:
        return False
    if order.shipped_at is None:
        return covers_rest_of_order
    return request.reason in SELLER_RESPONSIBLE


def grant_for(
    request: CaseRequest,
    *,
    claimed_before: Mapping[str, int],
    refund_reserved_before: int,
    shipping_already_refunded: bool,
) -> ClaimGrant:
    """The ledger's reservation for a new case, given what earlier cases of the order hold."""
    order = request.order
    value = items_value(order, request.items)
    remaining = remaining_quantities(order, claimed_before)
    claimed_now = {c.sku: c.quantity for c in request.items}
    covers_rest = all(claimed_now.get(sku, 0) >= left for sku, left in remaining.items() if left > 0)
    include_shipping = original_shipping_included(
        request, covers_rest_of_order=covers_rest, shipping_already_refunded=shipping_already_refunded
    )
    shipping = order.shipping_fee if include_shipping else 0
    headroom = max(order.paid_total - refund_reserved_before, 0)
    return ClaimGrant(
        items_value=value,
        includes_original_shipping=include_shipping,
        original_shipping=shipping,
        max_refund=min(value + shipping, headroom),
        covers_rest_of_order=covers_rest,
    )


def return_shipping_reimbursement(reason: Reason, declared_cost: int | None, policy: Policy) -> int:
    """The buyer's return leg is reimbursed only when the seller is responsible, up to the cap."""
    if not declared_cost or reason not in SELLER_RESPONSIBLE:
        return 0
    return min(declared_cost, policy.money.return_shipping_cap)


def out_of_stock_compensation(value: int, policy: Policy) -> int:
    """A policy rate of the items value, capped; 0 when the policy leaves it off."""
    bps = policy.money.out_of_stock_compensation_bps
    if bps == 0:
        return 0
    return min(value * bps // 10_000, policy.money.out_of_stock_compensation_cap)


def breakdown(
    grant: ClaimGrant,
    *,
    deduction: int = 0,
    agreed_refund: int | None = None,
    return_shipping: int = 0,
    compensation: int = 0,
) -> list[BreakdownLine]:
    """The payout lines of a case.

    ``agreed_refund`` is an amount the parties settled on (a partial refund, an approval with an
    amount, an arbitration); the difference from the computed refund is its own line so the
    breakdown always adds up. The refund lines never exceed ``grant.max_refund``.
    """
    lines = [BreakdownLine(kind=LineKind.ITEMS, amount=grant.items_value, note="claimed items")]
    if grant.original_shipping:
        lines.append(
            BreakdownLine(kind=LineKind.ORIGINAL_SHIPPING, amount=grant.original_shipping, note="original shipping fee")
        )
    computed = grant.items_value + grant.original_shipping
    if deduction:
        lines.append(BreakdownLine(kind=LineKind.DEDUCTION, amount=-deduction, note="agreed deduction"))
        computed -= deduction
    target = computed if agreed_refund is None else agreed_refund
    target = max(min(target, grant.max_refund), 0)
    if target != computed:
        lines.append(
            BreakdownLine(
                kind=LineKind.AGREED_ADJUSTMENT,
                amount=target - computed,
                note="agreed amount" if agreed_refund is not None else "capped by what the order has left to refund",
            )
        )
    if return_shipping:
        lines.append(
            BreakdownLine(kind=LineKind.RETURN_SHIPPING, amount=return_shipping, note="buyer's return shipping")
        )
    if compensation:
        lines.append(
            BreakdownLine(
                kind=LineKind.OUT_OF_STOCK_COMPENSATION, amount=compensation, note="out-of-stock compensation"
            )
        )
    return lines


def refund_total(lines: Iterable[BreakdownLine]) -> int:
    return sum(line.amount for line in lines if line.kind in REFUND_LINES)


def reimbursement_total(lines: Iterable[BreakdownLine]) -> int:
    return sum(line.amount for line in lines if line.kind not in REFUND_LINES)


def computed_refund(grant: ClaimGrant, deduction: int = 0) -> int:
    """The refund the rules give, before any agreed amount, capped by the grant."""
    return max(min(grant.items_value + grant.original_shipping - deduction, grant.max_refund), 0)


#: ISO 4217 currencies without minor units (most have two); amounts are still integers of them.
ZERO_DECIMAL_CURRENCIES = frozenset({"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                                     "VND", "VUV", "XAF", "XOF", "XPF"})


def format_amount(amount: int, currency: str) -> str:
    """Minor units as people read them: ``format_amount(10500, "CNY") == "105.00 CNY"``."""
    if currency in ZERO_DECIMAL_CURRENCIES:
        return f"{amount} {currency}"
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 100)
    return f"{sign}{major}.{minor:02d} {currency}"
