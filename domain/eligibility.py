"""Eligibility (售后有效性): may this request become a case at all?

A request outside its window, over quantity, or over the paid amount is refused with an error
that names the field, says why, and says what is allowed; no case is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from domain.models import CaseRequest, CaseType, GuaranteeKind, Order, Reason
from domain.money import BUYER_RESPONSIBLE, grant_for, remaining_quantities
from domain.policy import Policy


class Ineligible(ValueError):
    """A request that cannot become a case. ``field`` is a dotted path into the request."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def add_working_days(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` working days (Monday to Friday)."""
    current = start
    added = 0
    while added < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current


def receipt_date(order: Order, policy: Policy) -> datetime | None:
    """The date that starts the guarantee windows: the earlier of the buyer's actual receipt
    and shipment plus N working days, so a buyer cannot stretch a window by not confirming."""
    if order.shipped_at is None:
        return None
    assumed = add_working_days(order.shipped_at, policy.eligibility.receipt_grace_working_days)
    if order.delivered_at is None:
        return assumed
    return min(order.delivered_at, assumed)


def _window_start(order: Order, policy: Policy) -> tuple[datetime, str, str] | None:
    """The receipt date, the request field it comes from, and how it was found (for refusals)."""
    start = receipt_date(order, policy)
    if start is None:
        return None
    if order.delivered_at is not None and start == order.delivered_at:
        return start, "order.delivered_at", f"delivered {order.delivered_at.isoformat()}"
    grace = policy.eligibility.receipt_grace_working_days
    assert order.shipped_at is not None  # a receipt date exists
    delivered = "" if order.delivered_at is None else f", before the delivery recorded {order.delivered_at.isoformat()}"
    how = f"shipped {order.shipped_at.isoformat()} + {grace} working days = {start.isoformat()}{delivered}"
    return start, "order.shipped_at", how


def _check_window_end(order: Order, now: datetime, policy: Policy, days: int, what: str, requested: str) -> None:
    """Refuse when ``now`` is past ``days`` after receipt, naming the date field that decided the
    window's start, the guarantee (or policy window) ``what``, and the dates."""
    found = _window_start(order, policy)
    if found is None:
        return
    start, field, how = found
    end = start + timedelta(days=days)
    if now > end:
        raise Ineligible(
            field,
            f"{requested} comes too late: the {what} window ended {end.isoformat()}, {days} days from "
            f"receipt ({how}); this request came {now.isoformat()}",
        )


def _check_window(request: CaseRequest, now: datetime, policy: Policy) -> None:
    order = request.order
    kind = request.type
    shipped = order.shipped_at is not None

    if request.reason == Reason.OUT_OF_STOCK and (kind != CaseType.REFUND_ONLY or shipped):
        raise Ineligible("reason", "out_of_stock applies only to a refund_only case on an order not shipped yet")
    if kind != CaseType.REFUND_ONLY and not shipped:
        raise Ineligible(
            "type", f"{kind} needs an order that has shipped; for an order not shipped yet use refund_only"
        )
    if not shipped:
        return  # an unshipped order may always be refunded
    if request.reason == Reason.NOT_RECEIVED:
        if order.delivered_at is not None:
            raise Ineligible("reason", "not_received, but the order has a delivered_at date")
        return
    requested = f"a {request.reason} {kind} request"

    def guarantee_window(g: GuaranteeKind, label: str) -> None:
        guarantee = order.guarantee(g)
        if guarantee is None:
            offered = ", ".join(f"{x.kind} {x.days}d" for x in order.guarantees) or "none"
            raise Ineligible(
                "order.guarantees",
                f"the order has no {g} guarantee, so a {label} is not available (its guarantees: {offered})",
            )
        _check_window_end(order, now, policy, guarantee.days, f"{g} {guarantee.days}d", requested)

    if kind == CaseType.EXCHANGE:
        guarantee_window(GuaranteeKind.EXCHANGE, "exchange")
        return
    if kind == CaseType.REPAIR:
        guarantee_window(GuaranteeKind.WARRANTY, "repair")
        return
    if request.reason in BUYER_RESPONSIBLE:
        guarantee_window(GuaranteeKind.NO_REASON_RETURN, f"{request.reason} {kind}")
        return
    # Seller-responsible or other reasons: the longest of the order's guarantees and the
    # policy's window for seller faults.
    claim_days = policy.eligibility.seller_fault_claim_days
    longest = max(order.guarantees, key=lambda g: g.days, default=None)
    if longest is not None and longest.days > claim_days:
        what = f"{longest.kind} {longest.days}d (the order's longest guarantee)"
        days = longest.days
    else:
        what = f"seller-fault claim {claim_days}d (policy eligibility.seller_fault_claim_days)"
        days = claim_days
    _check_window_end(order, now, policy, days, what, requested)


def check_eligibility(
    request: CaseRequest,
    *,
    now: datetime,
    policy: Policy,
    claimed_before: Mapping[str, int],
    refund_reserved_before: int,
    shipping_already_refunded: bool,
) -> None:
    """Raise :class:`Ineligible` unless the request may open a case now."""
    order = request.order
    remaining = remaining_quantities(order, claimed_before)
    for index, claim in enumerate(request.items):
        line = order.item(claim.sku)
        if line is None:
            known = ", ".join(i.sku for i in order.items)
            raise Ineligible(f"items[{index}].sku", f"{claim.sku!r} is not in the order; its skus are {known}")
        left = remaining[claim.sku]
        if claim.quantity > left:
            raise Ineligible(
                f"items[{index}].quantity",
                f"{claim.quantity} of {claim.sku!r} claimed, but only {left} of {line.quantity} bought "
                f"are not already claimed by other cases of order {order.order_id}",
            )
    _check_window(request, now, policy)
    grant = grant_for(
        request,
        claimed_before=claimed_before,
        refund_reserved_before=refund_reserved_before,
        shipping_already_refunded=shipping_already_refunded,
    )
    if grant.max_refund == 0 and grant.items_value > 0 and request.type in (CaseType.REFUND_ONLY, CaseType.RETURN_REFUND):
        raise Ineligible(
            "order.paid_total",
            f"the order's paid total {order.paid_total} is already refunded or reserved by other cases",
        )
    if request.requested_refund is not None and request.requested_refund > grant.max_refund:
        raise Ineligible(
            "requested_refund",
            f"{request.requested_refund} is more than this case may refund: at most {grant.max_refund} "
            f"{order.currency} minor units (claimed items"
            f"{' plus original shipping' if grant.includes_original_shipping else ''}, within what the order has left)",
        )


__all__ = ["Ineligible", "add_working_days", "check_eligibility", "receipt_date"]
