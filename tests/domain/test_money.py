"""DOMAIN.md "Money and who pays shipping", one rule at a time.

The order in most tests: two kettles at 100.00 CNY and a 10.00 CNY shipping fee (21 000 fen
paid), shipped and delivered, unless a test says otherwise.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.models import BreakdownLine, LineKind, Reason
from domain.money import (
    BUYER_RESPONSIBLE,
    SELLER_RESPONSIBLE,
    breakdown,
    computed_refund,
    grant_for,
    items_value,
    out_of_stock_compensation,
    refund_total,
    reimbursement_total,
    return_shipping_reimbursement,
)
from domain.policy import Policy, parse_policy
from tests.domain.builders import SHIPPING_FEE, UNIT_PRICE, make_request

DOMAIN_SELLER_REASONS = ["quality_issue", "not_as_described", "wrong_item", "missing_item", "damaged_in_transit"]
DOMAIN_BUYER_REASONS = ["no_reason", "changed_mind"]


def first_grant(request, **kwargs):
    """The grant of the first case of an order (nothing claimed or refunded before)."""
    defaults = {"claimed_before": {}, "refund_reserved_before": 0, "shipping_already_refunded": False}
    return grant_for(request, **{**defaults, **kwargs})


def kinds(lines: list[BreakdownLine]) -> list[LineKind]:
    return [line.kind for line in lines]


# --------------------------------------------------------------------------------------------
# Item value


def test_items_value_is_quantity_claimed_times_unit_price_over_all_claimed_skus():
    request = make_request(items={"kettle": (3, 10_000), "cup": (4, 1_250)}, claim={"kettle": 2, "cup": 3})
    assert items_value(request.order, request.items) == 2 * 10_000 + 3 * 1_250


def test_items_value_refuses_a_sku_the_order_does_not_have():
    request = make_request(items={"kettle": (1, 10_000)}, claim={"kettle": 1})
    other = make_request(items={"kettle": (1, 10_000), "cup": (1, 500)}, claim={"cup": 1})
    with pytest.raises(KeyError, match="cup"):
        items_value(request.order, other.items)


# --------------------------------------------------------------------------------------------
# Not shipped yet: shipping comes back only with the case that covers the rest of the order


def test_unshipped_case_covering_the_whole_order_refunds_items_and_shipping():
    request = make_request(type="refund_only", reason="changed_mind", claim={"sku-1": 2}, shipped_at=None)
    grant = first_grant(request)
    assert grant.covers_rest_of_order
    assert grant.includes_original_shipping
    assert grant.original_shipping == SHIPPING_FEE
    assert grant.max_refund == 2 * UNIT_PRICE + SHIPPING_FEE
    assert computed_refund(grant) == 21_000


def test_unshipped_case_for_part_of_the_order_refunds_the_items_only():
    request = make_request(type="refund_only", reason="changed_mind", claim={"sku-1": 1}, shipped_at=None)
    grant = first_grant(request)
    assert not grant.covers_rest_of_order
    assert not grant.includes_original_shipping
    assert grant.original_shipping == 0
    assert grant.max_refund == UNIT_PRICE


def test_unshipped_partial_out_of_stock_case_does_not_take_the_shipping_fee():
    # Seller-responsible, but the order has not shipped: the unshipped rule decides.
    request = make_request(type="refund_only", reason="out_of_stock", claim={"sku-1": 1}, shipped_at=None)
    assert not first_grant(request).includes_original_shipping


def test_unshipped_case_claiming_what_earlier_cases_left_gets_the_shipping_fee():
    request = make_request(type="refund_only", reason="changed_mind", claim={"sku-1": 1}, shipped_at=None)
    grant = grant_for(
        request, claimed_before={"sku-1": 1}, refund_reserved_before=UNIT_PRICE, shipping_already_refunded=False
    )
    assert grant.covers_rest_of_order
    assert grant.includes_original_shipping
    assert grant.max_refund == UNIT_PRICE + SHIPPING_FEE


def test_unshipped_case_leaving_another_sku_untouched_does_not_cover_the_rest():
    request = make_request(
        type="refund_only",
        reason="changed_mind",
        items={"kettle": (1, 10_000), "cup": (2, 500)},
        claim={"kettle": 1},
        shipped_at=None,
    )
    grant = first_grant(request)
    assert not grant.covers_rest_of_order
    assert not grant.includes_original_shipping


def test_unshipped_case_covering_the_rest_on_a_free_shipping_order_has_no_shipping_to_refund():
    request = make_request(
        type="refund_only", reason="changed_mind", claim={"sku-1": 2}, shipped_at=None, free_shipping=True
    )
    grant = first_grant(request)
    assert grant.covers_rest_of_order
    assert not grant.includes_original_shipping
    assert grant.max_refund == 2 * UNIT_PRICE


# --------------------------------------------------------------------------------------------
# Seller-responsible reasons: the seller pays both legs


def test_the_seller_and_buyer_responsible_reasons_are_those_of_domain_md():
    assert {r.value for r in SELLER_RESPONSIBLE} >= set(DOMAIN_SELLER_REASONS)
    assert {r.value for r in BUYER_RESPONSIBLE} == set(DOMAIN_BUYER_REASONS)
    assert not SELLER_RESPONSIBLE & BUYER_RESPONSIBLE


@pytest.mark.parametrize("reason", DOMAIN_SELLER_REASONS)
def test_seller_responsible_return_refunds_original_shipping_even_for_part_of_the_order(reason):
    request = make_request(reason=reason, claim={"sku-1": 1})
    grant = first_grant(request)
    assert grant.includes_original_shipping
    assert grant.original_shipping == SHIPPING_FEE
    assert grant.max_refund == UNIT_PRICE + SHIPPING_FEE


@pytest.mark.parametrize("reason", DOMAIN_SELLER_REASONS)
def test_seller_responsible_reason_reimburses_the_declared_return_shipping(reason):
    assert return_shipping_reimbursement(Reason(reason), 1_500, Policy()) == 1_500


def test_return_shipping_reimbursement_is_capped_by_the_policy():
    assert return_shipping_reimbursement(Reason.QUALITY_ISSUE, 5_000, Policy()) == Policy().money.return_shipping_cap
    strict = parse_policy({"money": {"return_shipping_cap": 800}})
    assert return_shipping_reimbursement(Reason.QUALITY_ISSUE, 1_500, strict) == 800


@pytest.mark.parametrize("declared", [None, 0])
def test_nothing_is_reimbursed_when_the_buyer_declared_no_return_shipping(declared):
    assert return_shipping_reimbursement(Reason.WRONG_ITEM, declared, Policy()) == 0


def test_seller_responsible_payout_has_both_legs_as_separate_lines():
    grant = first_grant(make_request(reason="quality_issue", claim={"sku-1": 1}))
    reimbursed = return_shipping_reimbursement(Reason.QUALITY_ISSUE, 1_200, Policy())
    lines = breakdown(grant, return_shipping=reimbursed)
    assert kinds(lines) == [LineKind.ITEMS, LineKind.ORIGINAL_SHIPPING, LineKind.RETURN_SHIPPING]
    assert refund_total(lines) == UNIT_PRICE + SHIPPING_FEE
    assert reimbursement_total(lines) == 1_200


# --------------------------------------------------------------------------------------------
# Buyer-responsible reasons


@pytest.mark.parametrize("reason", DOMAIN_BUYER_REASONS)
def test_buyer_responsible_on_free_shipping_order_each_side_pays_its_own_leg(reason):
    request = make_request(type="return_refund", reason=reason, claim={"sku-1": 2}, free_shipping=True)
    grant = first_grant(request)
    # The seller's original leg is not charged to the buyer: the whole item value comes back.
    assert grant.original_shipping == 0
    assert computed_refund(grant) == 2 * UNIT_PRICE
    # The buyer's return leg is the buyer's.
    assert return_shipping_reimbursement(Reason(reason), 1_500, Policy()) == 0
    lines = breakdown(grant)
    assert kinds(lines) == [LineKind.ITEMS]
    assert refund_total(lines) == 2 * UNIT_PRICE


@pytest.mark.parametrize("reason", DOMAIN_BUYER_REASONS)
def test_buyer_responsible_on_paid_shipping_order_buyer_pays_all_shipping(reason):
    # Even a case that returns the whole order does not get the original shipping fee back.
    request = make_request(type="return_refund", reason=reason, claim={"sku-1": 2})
    grant = first_grant(request)
    assert grant.covers_rest_of_order
    assert not grant.includes_original_shipping
    assert grant.max_refund == 2 * UNIT_PRICE
    assert return_shipping_reimbursement(Reason(reason), 1_500, Policy()) == 0
    assert refund_total(breakdown(grant)) == 2 * UNIT_PRICE


# --------------------------------------------------------------------------------------------
# The original shipping fee comes back at most once per order


def test_original_shipping_is_not_refunded_again_once_an_earlier_case_took_it():
    request = make_request(reason="quality_issue", claim={"sku-1": 1})
    grant = grant_for(
        request,
        claimed_before={"sku-1": 1},
        refund_reserved_before=UNIT_PRICE + SHIPPING_FEE,
        shipping_already_refunded=True,
    )
    assert not grant.includes_original_shipping
    assert grant.original_shipping == 0
    assert grant.max_refund == UNIT_PRICE
    assert LineKind.ORIGINAL_SHIPPING not in kinds(breakdown(grant))


def test_unshipped_last_case_does_not_refund_shipping_an_earlier_case_already_took():
    request = make_request(type="refund_only", reason="out_of_stock", claim={"sku-1": 1}, shipped_at=None)
    grant = grant_for(
        request, claimed_before={"sku-1": 1}, refund_reserved_before=UNIT_PRICE, shipping_already_refunded=True
    )
    assert grant.covers_rest_of_order
    assert not grant.includes_original_shipping


def test_the_first_case_whose_rules_include_shipping_takes_it():
    # A buyer-responsible case first: it does not take the shipping fee ...
    first = grant_for(
        make_request(reason="changed_mind", claim={"sku-1": 1}, case_id="c-1"),
        claimed_before={},
        refund_reserved_before=0,
        shipping_already_refunded=False,
    )
    assert not first.includes_original_shipping
    # ... so the later seller-responsible case still gets it.
    second = grant_for(
        make_request(reason="quality_issue", claim={"sku-1": 1}, case_id="c-2"),
        claimed_before={"sku-1": 1},
        refund_reserved_before=first.max_refund,
        shipping_already_refunded=first.includes_original_shipping,
    )
    assert second.includes_original_shipping
    assert second.max_refund == UNIT_PRICE + SHIPPING_FEE
    assert first.max_refund + second.max_refund == 2 * UNIT_PRICE + SHIPPING_FEE


# --------------------------------------------------------------------------------------------
# Refunds never exceed what was paid, across all cases of an order


def test_refund_is_capped_by_what_the_order_has_left_to_refund():
    # A 30.00 coupon: 180.00 paid for 200.00 of goods plus 10.00 shipping.
    request = make_request(reason="quality_issue", claim={"sku-1": 1}, paid_total=18_000)
    grant = grant_for(
        request,
        claimed_before={"sku-1": 1},
        refund_reserved_before=UNIT_PRICE + SHIPPING_FEE,
        shipping_already_refunded=True,
    )
    assert grant.max_refund == 18_000 - (UNIT_PRICE + SHIPPING_FEE)
    lines = breakdown(grant)
    assert refund_total(lines) == 7_000
    capped = [line for line in lines if line.kind == LineKind.AGREED_ADJUSTMENT]
    assert [line.amount for line in capped] == [7_000 - UNIT_PRICE]
    assert "capped" in capped[0].note


def test_max_refund_is_zero_not_negative_when_earlier_cases_hold_more_than_was_paid():
    request = make_request(reason="quality_issue", claim={"sku-1": 1})
    grant = first_grant(request, refund_reserved_before=25_000)
    assert grant.max_refund == 0
    assert computed_refund(grant) == 0
    assert refund_total(breakdown(grant)) == 0


def test_reimbursement_and_compensation_do_not_count_against_the_paid_total_cap():
    request = make_request(reason="quality_issue", claim={"sku-1": 1}, paid_total=15_000)
    grant = first_grant(request, claimed_before={"sku-1": 1}, refund_reserved_before=12_000)
    assert grant.max_refund == 3_000
    lines = breakdown(grant, return_shipping=2_000, compensation=1_500)
    assert refund_total(lines) == 3_000
    assert reimbursement_total(lines) == 3_500
    assert sum(line.amount for line in lines) == 6_500


def test_agreed_refund_above_what_the_order_has_left_is_cut_to_the_cap():
    request = make_request(reason="quality_issue", claim={"sku-1": 1})
    grant = first_grant(request, refund_reserved_before=15_000)
    assert grant.max_refund == 6_000
    assert refund_total(breakdown(grant, agreed_refund=9_000)) == 6_000


# --------------------------------------------------------------------------------------------
# Out-of-stock compensation


def test_out_of_stock_compensation_is_off_by_default():
    assert Policy().money.out_of_stock_compensation_bps == 0
    assert out_of_stock_compensation(2 * UNIT_PRICE, Policy()) == 0


def test_out_of_stock_compensation_is_the_policy_rate_of_the_items_value():
    policy = parse_policy({"money": {"out_of_stock_compensation_bps": 3_000}})  # 30 %
    assert out_of_stock_compensation(20_000, policy) == 6_000


def test_out_of_stock_compensation_is_capped():
    # DOMAIN.md's example: 30 %, at most 500 CNY.
    policy = parse_policy({"money": {"out_of_stock_compensation_bps": 3_000, "out_of_stock_compensation_cap": 50_000}})
    assert out_of_stock_compensation(1_000_000, policy) == 50_000
    assert out_of_stock_compensation(166_666, policy) == 49_999


def test_out_of_stock_compensation_rounds_down_to_whole_fen():
    policy = parse_policy({"money": {"out_of_stock_compensation_bps": 3_000}})
    amount = out_of_stock_compensation(333, policy)  # 99.9 fen
    assert amount == 99
    assert type(amount) is int


def test_out_of_stock_compensation_is_a_line_apart_from_the_refund():
    request = make_request(type="refund_only", reason="out_of_stock", claim={"sku-1": 2}, shipped_at=None)
    grant = first_grant(request)
    policy = parse_policy({"money": {"out_of_stock_compensation_bps": 3_000}})
    lines = breakdown(grant, compensation=out_of_stock_compensation(grant.items_value, policy))
    assert kinds(lines) == [LineKind.ITEMS, LineKind.ORIGINAL_SHIPPING, LineKind.OUT_OF_STOCK_COMPENSATION]
    assert refund_total(lines) == 21_000
    assert reimbursement_total(lines) == 6_000


# --------------------------------------------------------------------------------------------
# Deductions and agreed amounts: the breakdown always adds up


def test_deduction_is_a_negative_line_and_lowers_the_refund():
    grant = first_grant(make_request(reason="quality_issue", claim={"sku-1": 2}))
    lines = breakdown(grant, deduction=3_000)
    assert kinds(lines) == [LineKind.ITEMS, LineKind.ORIGINAL_SHIPPING, LineKind.DEDUCTION]
    assert [line.amount for line in lines] == [20_000, 1_000, -3_000]
    assert refund_total(lines) == 18_000 == computed_refund(grant, deduction=3_000)


def test_agreed_partial_refund_is_an_adjustment_line_so_the_lines_add_up():
    grant = first_grant(make_request(reason="quality_issue", claim={"sku-1": 1}))
    lines = breakdown(grant, agreed_refund=4_000, return_shipping=800)
    adjustment = [line for line in lines if line.kind == LineKind.AGREED_ADJUSTMENT]
    assert [line.amount for line in adjustment] == [4_000 - (UNIT_PRICE + SHIPPING_FEE)]
    assert adjustment[0].note == "agreed amount"
    assert refund_total(lines) == 4_000
    assert reimbursement_total(lines) == 800
    assert sum(line.amount for line in lines) == refund_total(lines) + reimbursement_total(lines)


def test_deduction_and_agreed_amount_together_still_add_up_to_the_agreed_amount():
    grant = first_grant(make_request(reason="quality_issue", claim={"sku-1": 2}))
    lines = breakdown(grant, deduction=5_000, agreed_refund=12_000)
    assert kinds(lines) == [LineKind.ITEMS, LineKind.ORIGINAL_SHIPPING, LineKind.DEDUCTION, LineKind.AGREED_ADJUSTMENT]
    assert refund_total(lines) == 12_000


def test_agreed_amount_equal_to_the_computed_refund_adds_no_adjustment_line():
    grant = first_grant(make_request(reason="quality_issue", claim={"sku-1": 1}))
    lines = breakdown(grant, agreed_refund=UNIT_PRICE + SHIPPING_FEE)
    assert LineKind.AGREED_ADJUSTMENT not in kinds(lines)


def test_deduction_larger_than_the_value_refunds_nothing_rather_than_charging_the_buyer():
    grant = first_grant(make_request(reason="quality_issue", claim={"sku-1": 1}))
    lines = breakdown(grant, deduction=50_000)
    assert refund_total(lines) == 0
    assert computed_refund(grant, deduction=50_000) == 0


def test_agreed_refund_of_zero_refunds_nothing():
    grant = first_grant(make_request(reason="quality_issue", claim={"sku-1": 1}))
    assert refund_total(breakdown(grant, agreed_refund=0)) == 0


# --------------------------------------------------------------------------------------------
# Integers only


def test_every_amount_in_a_breakdown_is_an_integer():
    grant = first_grant(make_request(reason="quality_issue", claim={"sku-1": 2}, paid_total=20_999))
    policy = parse_policy({"money": {"out_of_stock_compensation_bps": 3_333}})
    lines = breakdown(
        grant,
        deduction=333,
        agreed_refund=10_001,
        return_shipping=return_shipping_reimbursement(Reason.QUALITY_ISSUE, 777, policy),
        compensation=out_of_stock_compensation(grant.items_value, policy),
    )
    assert all(type(line.amount) is int for line in lines)
    for value in (refund_total(lines), reimbursement_total(lines), computed_refund(grant, 333), grant.max_refund):
        assert type(value) is int


def test_a_breakdown_line_refuses_a_fractional_amount():
    with pytest.raises(ValidationError):
        BreakdownLine(kind=LineKind.ITEMS, amount=12.5)


def test_amounts_read_in_major_units_with_the_currency():
    from domain.money import format_amount

    assert format_amount(10_500, "CNY") == "105.00 CNY"
    assert format_amount(5, "CNY") == "0.05 CNY"
    assert format_amount(-1_999, "USD") == "-19.99 USD"
    assert format_amount(1_200, "JPY") == "1200 JPY"  # no minor units
