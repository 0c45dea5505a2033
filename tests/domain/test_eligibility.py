"""DOMAIN.md "Eligibility": which requests may become a case, and how a refusal reads.

Calendar used below (March 2025): Wed 12 shipped, Fri 14, Sat 15, Wed 19, Fri 21.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.eligibility import Ineligible, add_working_days, check_eligibility, receipt_date
from domain.policy import Policy, parse_policy
from tests.domain.builders import SHIPPING_FEE, UNIT_PRICE, WEDNESDAY, make_request

FRIDAY = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
SATURDAY = datetime(2025, 3, 15, 10, 0, tzinfo=UTC)
NEXT_WEDNESDAY = datetime(2025, 3, 19, 10, 0, tzinfo=UTC)
NEXT_FRIDAY = datetime(2025, 3, 21, 10, 0, tzinfo=UTC)


def check(request, *, now, policy=None, claimed_before=None, refund_reserved_before=0, shipping_already_refunded=False):
    check_eligibility(
        request,
        now=now,
        policy=policy or Policy(),
        claimed_before=claimed_before or {},
        refund_reserved_before=refund_reserved_before,
        shipping_already_refunded=shipping_already_refunded,
    )


def refusal(request, **kwargs) -> Ineligible:
    with pytest.raises(Ineligible) as caught:
        check(request, **kwargs)
    return caught.value


# --------------------------------------------------------------------------------------------
# The receipt date: earlier of delivery and shipment + 5 working days


def test_working_days_skip_the_weekend():
    assert add_working_days(FRIDAY, 1) == FRIDAY + timedelta(days=3)  # Monday
    assert add_working_days(WEDNESDAY, 5) == NEXT_WEDNESDAY
    assert add_working_days(FRIDAY, 5) == NEXT_FRIDAY
    assert add_working_days(SATURDAY, 5) == NEXT_FRIDAY  # Sunday is not a working day either
    assert add_working_days(WEDNESDAY, 0) == WEDNESDAY


def test_receipt_date_is_the_delivery_when_it_came_before_the_grace_period_ended():
    order = make_request(shipped_at=WEDNESDAY, delivered_at=FRIDAY).order
    assert receipt_date(order, Policy()) == FRIDAY


def test_receipt_date_is_shipment_plus_five_working_days_when_delivery_came_later():
    order = make_request(shipped_at=WEDNESDAY, delivered_at=NEXT_FRIDAY).order
    assert receipt_date(order, Policy()) == NEXT_WEDNESDAY


def test_receipt_date_is_shipment_plus_five_working_days_when_delivery_was_never_recorded():
    order = make_request(shipped_at=FRIDAY, delivered_at=None).order
    assert receipt_date(order, Policy()) == NEXT_FRIDAY


def test_receipt_grace_comes_from_the_policy():
    order = make_request(shipped_at=FRIDAY, delivered_at=None).order
    policy = parse_policy({"eligibility": {"receipt_grace_working_days": 1}})
    assert receipt_date(order, policy) == FRIDAY + timedelta(days=3)


def test_an_unshipped_order_has_no_receipt_date():
    assert receipt_date(make_request(type="refund_only", shipped_at=None).order, Policy()) is None


# --------------------------------------------------------------------------------------------
# 7-day no-reason return


@pytest.mark.parametrize("reason", ["no_reason", "changed_mind"])
def test_no_reason_return_is_allowed_until_seven_days_after_receipt(reason):
    request = make_request(reason=reason, shipped_at=WEDNESDAY, delivered_at=FRIDAY)
    check(request, now=FRIDAY + timedelta(days=7))


@pytest.mark.parametrize("reason", ["no_reason", "changed_mind"])
def test_no_reason_return_after_seven_days_is_refused_with_the_window_end(reason):
    request = make_request(reason=reason, shipped_at=WEDNESDAY, delivered_at=FRIDAY)
    late = FRIDAY + timedelta(days=7, seconds=1)
    error = refusal(request, now=late)
    # The refusal names the date that started the window and the guarantee that decided it.
    assert error.field == "order.delivered_at"
    assert "no_reason_return 7d window ended" in error.message
    assert (FRIDAY + timedelta(days=7)).isoformat() in error.message
    assert f"delivered {FRIDAY.isoformat()}" in error.message
    assert late.isoformat() in error.message


def test_late_confirmation_does_not_stretch_the_no_reason_window():
    # Delivered on Friday the 21st, but the window runs from Wednesday the 19th (shipment + 5
    # working days), so it ends on the 26th, not the 28th.
    request = make_request(reason="no_reason", shipped_at=WEDNESDAY, delivered_at=NEXT_FRIDAY)
    check(request, now=NEXT_WEDNESDAY + timedelta(days=7))
    error = refusal(request, now=NEXT_WEDNESDAY + timedelta(days=7, hours=1))
    # The shipment date decided it (shipped + 5 working days came before the recorded delivery).
    assert error.field == "order.shipped_at"
    assert (NEXT_WEDNESDAY + timedelta(days=7)).isoformat() in error.message
    assert f"shipped {WEDNESDAY.isoformat()} + 5 working days = {NEXT_WEDNESDAY.isoformat()}" in error.message
    assert f"before the delivery recorded {NEXT_FRIDAY.isoformat()}" in error.message


def test_no_reason_refund_only_on_a_shipped_order_uses_the_no_reason_window():
    request = make_request(type="refund_only", reason="no_reason", shipped_at=WEDNESDAY, delivered_at=FRIDAY)
    check(request, now=FRIDAY + timedelta(days=6))
    assert refusal(request, now=FRIDAY + timedelta(days=8)).field == "order.delivered_at"


# --------------------------------------------------------------------------------------------
# Exchange and warranty windows


def test_exchange_is_allowed_within_the_exchange_window_and_refused_after():
    request = make_request(type="exchange", reason="quality_issue", delivered_at=FRIDAY)
    check(request, now=FRIDAY + timedelta(days=15))
    error = refusal(request, now=FRIDAY + timedelta(days=15, minutes=1))
    assert error.field == "order.delivered_at"
    assert "exchange 15d window ended" in error.message


def test_repair_is_allowed_within_the_warranty_and_refused_after():
    request = make_request(type="repair", reason="quality_issue", delivered_at=FRIDAY)
    check(request, now=FRIDAY + timedelta(days=365))
    error = refusal(request, now=FRIDAY + timedelta(days=366))
    assert error.field == "order.delivered_at"
    assert "warranty 365d window ended" in error.message


# --------------------------------------------------------------------------------------------
# A guarantee the order does not have


@pytest.mark.parametrize(
    ("case_type", "reason", "missing"),
    [
        ("return_refund", "no_reason", "no_reason_return"),
        ("exchange", "quality_issue", "exchange"),
        ("repair", "quality_issue", "warranty"),
    ],
)
def test_request_needing_a_guarantee_the_order_lacks_is_refused(case_type, reason, missing):
    others = [
        g
        for g in (
            {"kind": "no_reason_return", "days": 7},
            {"kind": "exchange", "days": 15},
            {"kind": "warranty", "days": 365},
        )
        if g["kind"] != missing
    ]
    request = make_request(type=case_type, reason=reason, guarantees=others, delivered_at=FRIDAY)
    error = refusal(request, now=FRIDAY + timedelta(days=1))
    assert error.field == "order.guarantees"
    assert f"no {missing} guarantee" in error.message
    assert "its guarantees: " + ", ".join(f"{g['kind']} {g['days']}d" for g in others) in error.message


# --------------------------------------------------------------------------------------------
# Seller-responsible claims and parcels that never arrived


def test_seller_fault_claim_without_a_longer_guarantee_uses_the_policy_window():
    request = make_request(
        reason="quality_issue", guarantees=[{"kind": "no_reason_return", "days": 7}], delivered_at=FRIDAY
    )
    check(request, now=FRIDAY + timedelta(days=15))
    error = refusal(request, now=FRIDAY + timedelta(days=16))
    assert error.field == "order.delivered_at"
    assert "seller-fault claim 15d (policy eligibility.seller_fault_claim_days) window ended" in error.message


def test_seller_fault_claim_with_a_longer_guarantee_names_that_guarantee():
    request = make_request(
        reason="quality_issue", guarantees=[{"kind": "warranty", "days": 30}], delivered_at=None, shipped_at=WEDNESDAY
    )
    check(request, now=NEXT_WEDNESDAY + timedelta(days=30))
    error = refusal(request, now=NEXT_WEDNESDAY + timedelta(days=30, seconds=1))
    assert error.field == "order.shipped_at"
    assert "warranty 30d (the order's longest guarantee) window ended" in error.message


def test_not_received_is_refused_when_the_order_has_a_delivery_date():
    request = make_request(type="refund_only", reason="not_received", delivered_at=FRIDAY)
    error = refusal(request, now=FRIDAY + timedelta(days=1))
    assert error.field == "reason"
    assert "delivered_at" in error.message


def test_not_received_without_a_delivery_date_is_allowed():
    request = make_request(type="refund_only", reason="not_received", delivered_at=None)
    check(request, now=WEDNESDAY + timedelta(days=30))


# --------------------------------------------------------------------------------------------
# Unshipped orders, out of stock, and types that need a parcel


@pytest.mark.parametrize("reason", ["out_of_stock", "changed_mind", "no_reason"])
def test_unshipped_order_may_always_be_refunded(reason):
    request = make_request(type="refund_only", reason=reason, shipped_at=None)
    check(request, now=WEDNESDAY + timedelta(days=400))


def test_out_of_stock_on_a_shipped_order_is_refused():
    request = make_request(type="refund_only", reason="out_of_stock")
    error = refusal(request, now=FRIDAY)
    assert error.field == "reason"
    assert "not shipped" in error.message


@pytest.mark.parametrize("case_type", ["return_refund", "exchange", "repair"])
def test_out_of_stock_is_only_for_refund_only(case_type):
    request = make_request(type=case_type, reason="out_of_stock", shipped_at=None)
    error = refusal(request, now=WEDNESDAY)
    assert error.field == "reason"
    assert "refund_only" in error.message


@pytest.mark.parametrize("case_type", ["return_refund", "exchange", "repair"])
def test_return_style_types_need_a_shipped_order(case_type):
    request = make_request(type=case_type, reason="quality_issue", shipped_at=None)
    error = refusal(request, now=WEDNESDAY)
    assert error.field == "type"
    assert f"{case_type} needs an order that has shipped" in error.message
    assert "refund_only" in error.message


# --------------------------------------------------------------------------------------------
# Quantities and skus


def test_quantity_within_what_earlier_cases_left_is_allowed():
    request = make_request(claim={"sku-1": 1})
    check(request, now=FRIDAY, claimed_before={"sku-1": 1}, refund_reserved_before=UNIT_PRICE)


def test_quantity_over_what_earlier_cases_left_is_refused():
    request = make_request(claim={"sku-1": 2})
    error = refusal(request, now=FRIDAY, claimed_before={"sku-1": 1}, refund_reserved_before=UNIT_PRICE)
    assert error.field == "items[0].quantity"
    assert "2 of 'sku-1' claimed, but only 1 of 2 bought" in error.message
    assert "order-1" in error.message


def test_quantity_over_what_was_bought_is_refused():
    request = make_request(claim={"sku-1": 3})
    error = refusal(request, now=FRIDAY)
    assert error.field == "items[0].quantity"
    assert "only 2 of 2" in error.message


def test_unknown_sku_is_refused_naming_its_position_and_the_order_skus():
    request = make_request(items={"kettle": (1, 10_000), "cup": (1, 500)}, claim={"kettle": 1, "spoon": 1})
    error = refusal(request, now=FRIDAY)
    assert error.field == "items[1].sku"
    assert "'spoon' is not in the order" in error.message
    assert "kettle, cup" in error.message


# --------------------------------------------------------------------------------------------
# Money ceilings


def test_requested_refund_up_to_the_ceiling_is_allowed():
    # Seller-responsible, one of two kettles: at most the kettle plus the original shipping.
    check(make_request(claim={"sku-1": 1}, requested_refund=UNIT_PRICE + SHIPPING_FEE), now=FRIDAY)


def test_requested_refund_over_the_ceiling_is_refused_saying_what_is_allowed():
    request = make_request(claim={"sku-1": 1}, requested_refund=UNIT_PRICE + SHIPPING_FEE + 1)
    error = refusal(request, now=FRIDAY)
    assert error.field == "requested_refund"
    assert f"at most {UNIT_PRICE + SHIPPING_FEE} CNY" in error.message
    assert "plus original shipping" in error.message


def test_requested_refund_ceiling_shrinks_with_what_earlier_cases_reserved():
    request = make_request(claim={"sku-1": 1}, requested_refund=UNIT_PRICE, paid_total=18_000)
    error = refusal(
        request,
        now=FRIDAY,
        claimed_before={"sku-1": 1},
        refund_reserved_before=UNIT_PRICE + SHIPPING_FEE,
        shipping_already_refunded=True,
    )
    assert error.field == "requested_refund"
    assert "at most 7000" in error.message


@pytest.mark.parametrize("case_type", ["refund_only", "return_refund"])
def test_refund_on_an_order_whose_paid_total_is_already_refunded_is_refused(case_type):
    request = make_request(type=case_type, reason="quality_issue", claim={"sku-1": 1}, paid_total=10_000)
    error = refusal(
        request,
        now=FRIDAY,
        claimed_before={"sku-1": 1},
        refund_reserved_before=10_000,
        shipping_already_refunded=True,
    )
    assert error.field == "order.paid_total"
    assert "10000" in error.message


def test_exchange_needs_no_refund_headroom():
    request = make_request(type="exchange", claim={"sku-1": 1}, paid_total=10_000)
    check(
        request, now=FRIDAY, claimed_before={"sku-1": 1}, refund_reserved_before=10_000, shipping_already_refunded=True
    )


def test_ineligible_reads_as_field_then_message():
    error = Ineligible("requested_refund", "too much")
    assert str(error) == "requested_refund: too much"
    assert isinstance(error, ValueError)
