"""Workflow ids and case references: scoped by shop, and read back one way only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from domain.models import CaseRequest, Principal, Role
from tests.support.factory import request
from workflows.ids import CaseRef, case_workflow_id, order_ledger_id


def test_ids_that_once_collided_are_distinct():
    # order-{shop}-{order} made both of these "order-a-b-c".
    assert order_ledger_id("a-b", "c") != order_ledger_id("a", "b-c")
    assert case_workflow_id("a-b", "c") != case_workflow_id("a", "b-c")


def test_each_shop_has_its_own_case_and_order_ids():
    assert case_workflow_id("shop-1", "c-1") != case_workflow_id("shop-2", "c-1")
    assert order_ledger_id("shop-1", "o-1") != order_ledger_id("shop-2", "o-1")
    assert case_workflow_id("shop-1", "x") != order_ledger_id("shop-1", "x")


@pytest.mark.parametrize(("shop_id", "case_id"), [("a-b", "c"), ("a", "b-c"), ("shop_1", "C-9_x"), ("s", "x" * 64)])
def test_a_case_workflow_id_reads_back_as_its_shop_and_case(shop_id, case_id):
    ref = CaseRef(shop_id, case_id)
    assert CaseRef.from_workflow_id(case_workflow_id(shop_id, case_id)) == ref
    assert CaseRef.parse(str(ref)) == ref
    assert ref.workflow_id == case_workflow_id(shop_id, case_id)


@pytest.mark.parametrize("text", ["c-1", "a:b:c", ":c-1", "shop-1:", "shop 1:c", "shop-1:c/1", "s:" + "x" * 65])
def test_anything_else_is_no_reference(text):
    assert CaseRef.parse(text) is None


@pytest.mark.parametrize("workflow_id", ["order:shop-1:o-1", "case-shop-1-c-1", "case:a:b:c", "baseline-case-c-1"])
def test_other_workflow_ids_name_no_case(workflow_id):
    assert CaseRef.from_workflow_id(workflow_id) is None


def test_building_an_id_from_an_unchecked_part_is_a_bug_not_a_collision():
    with pytest.raises(ValueError, match="shop_id"):
        case_workflow_id("a:b", "c")
    with pytest.raises(ValueError, match="order_id"):
        order_ledger_id("a", "b:c")


@pytest.mark.parametrize("field", ["case_id", "order.shop_id", "order.order_id"])
@pytest.mark.parametrize("value", ["a:b", "shop 1", "", "x" * 65, "ü"])
def test_a_request_with_the_separator_or_odd_characters_in_an_id_is_refused(field, value):
    data = request(datetime.now(UTC), "c-1").model_dump(mode="json")
    target = data
    *path, last = field.split(".")
    for part in path:
        target = target[part]
    target[last] = value
    with pytest.raises(ValidationError) as err:
        CaseRequest.model_validate(data)
    assert [e["loc"] for e in err.value.errors()] == [tuple(field.split("."))]


def test_a_principals_shop_is_an_id_too():
    with pytest.raises(ValidationError):
        Principal(role=Role.STAFF, id="alice", shop_id="shop:1")
