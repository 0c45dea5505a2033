"""What a backend may send to open a case: malformed requests and inconsistent orders are refused
before any rule runs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.models import CaseRequest, CaseState, GuaranteeKind, Order
from tests.domain.builders import WEDNESDAY, make_request


def request_data(**changes: Any) -> dict[str, Any]:
    data = make_request().model_dump(mode="json")
    data.update(changes)
    return data


def order_data(**changes: Any) -> dict[str, Any]:
    data = make_request().order.model_dump(mode="json")
    data.update(changes)
    return data


def errors_of(model, data) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return caught.value.errors(include_url=False)


def locations(errors) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in errors]


def test_the_builder_request_is_valid():
    CaseRequest.model_validate(request_data())


@pytest.mark.parametrize("case_id", ["case-1", "CASE_2", "a", "x" * 64])
def test_case_id_of_letters_digits_dash_underscore_is_accepted(case_id):
    assert CaseRequest.model_validate(request_data(case_id=case_id)).case_id == case_id


@pytest.mark.parametrize("case_id", ["", "case 1", "case/1", "case.1", "案件1", "x" * 65])
def test_case_id_outside_the_pattern_is_refused(case_id):
    assert locations(errors_of(CaseRequest, request_data(case_id=case_id))) == ["case_id"]


@pytest.mark.parametrize("currency", ["cny", "CN", "CNYY", "12A", ""])
def test_currency_must_be_a_three_letter_iso_code(currency):
    assert locations(errors_of(Order, order_data(currency=currency))) == ["currency"]


def test_free_shipping_with_a_shipping_fee_is_refused():
    errors = errors_of(Order, order_data(free_shipping=True, shipping_fee=500, paid_total=20_500))
    assert "shipping_fee must be 0 when order.free_shipping is true" in errors[0]["msg"]


def test_free_shipping_without_a_fee_is_accepted():
    order = Order.model_validate(order_data(free_shipping=True, shipping_fee=0, paid_total=20_000))
    assert order.free_shipping


def test_paid_total_above_items_plus_shipping_is_refused():
    errors = errors_of(Order, order_data(paid_total=21_001))
    assert "paid_total 21001 exceeds items (20000) plus shipping_fee (1000)" in errors[0]["msg"]


def test_paid_total_below_items_plus_shipping_is_a_discount_and_accepted():
    assert Order.model_validate(order_data(paid_total=18_000)).paid_total == 18_000


def test_duplicate_sku_in_the_order_is_refused():
    item = {"sku": "sku-1", "quantity": 1, "unit_price": 10_000}
    errors = errors_of(Order, order_data(items=[item, item], paid_total=1_000))
    assert "each sku may appear once" in errors[0]["msg"]


def test_duplicate_sku_in_the_claim_is_refused():
    claim = {"sku": "sku-1", "quantity": 1}
    errors = errors_of(CaseRequest, request_data(items=[claim, claim]))
    assert "items: each sku may appear once" in errors[0]["msg"]


def test_delivered_without_shipped_is_refused():
    errors = errors_of(Order, order_data(shipped_at=None))
    assert "delivered_at needs order.shipped_at" in errors[0]["msg"]


def test_delivered_before_shipped_is_refused():
    errors = errors_of(Order, order_data(delivered_at="2025-03-11T10:00:00Z"))
    assert "delivered_at is before order.shipped_at" in errors[0]["msg"]


def test_dates_without_a_time_zone_are_refused():
    assert locations(errors_of(Order, order_data(shipped_at="2025-03-12T10:00:00", delivered_at=None))) == [
        "shipped_at"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("paid_total", -1), ("shipping_fee", -1)],
)
def test_negative_amounts_are_refused(field, value):
    assert field in locations(errors_of(Order, order_data(**{field: value})))


def test_fractional_amount_is_refused():
    assert locations(errors_of(Order, order_data(paid_total=20_999.5))) == ["paid_total"]


def test_claim_of_zero_items_is_refused():
    assert locations(errors_of(CaseRequest, request_data(items=[{"sku": "sku-1", "quantity": 0}]))) == [
        "items.0.quantity"
    ]


def test_request_without_claimed_items_is_refused():
    assert locations(errors_of(CaseRequest, request_data(items=[]))) == ["items"]


def test_unknown_field_is_refused_not_dropped():
    assert locations(errors_of(CaseRequest, request_data(priority="high"))) == ["priority"]
    assert locations(errors_of(Order, order_data(coupon="SPRING"))) == ["coupon"]


def test_unknown_case_type_or_reason_is_refused():
    assert locations(errors_of(CaseRequest, request_data(type="refund_and_keep"))) == ["type"]
    assert locations(errors_of(CaseRequest, request_data(reason="bored"))) == ["reason"]


def test_order_looks_up_its_items_and_guarantees():
    order = make_request(guarantees=[{"kind": "warranty", "days": 365}]).order
    assert order.item("sku-1").unit_price == 10_000
    assert order.item("sku-9") is None
    assert order.guarantee(GuaranteeKind.WARRANTY).days == 365
    assert order.guarantee(GuaranteeKind.EXCHANGE) is None


def test_fingerprint_tells_an_identical_retry_from_a_different_request():
    first = make_request(shipped_at=WEDNESDAY)
    retry = CaseRequest.model_validate(first.model_dump(mode="json"))
    changed = make_request(shipped_at=WEDNESDAY, requested_refund=5_000)
    assert first.fingerprint() == retry.fingerprint()
    assert first.fingerprint() != changed.fingerprint()


def test_only_refunded_completed_and_closed_are_terminal():
    assert {s for s in CaseState if s.terminal} == {CaseState.REFUNDED, CaseState.COMPLETED, CaseState.CLOSED}
