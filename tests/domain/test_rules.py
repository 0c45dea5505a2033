"""Who may do what, in which state (DOMAIN.md "Actors and what each may do"), and payloads that
say which field is wrong."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from domain.commands import ExtendDeadlineCommand as ExtendDeadlinePayload
from domain.commands import RecordInspectionCommand as RecordInspectionPayload
from domain.models import CaseState, CaseType, Principal, Role
from domain.rules import (
    ACTIONS,
    BadPayload,
    BuyerContext,
    CaseFacts,
    actions_in,
    can_access,
    next_actions,
    parse_payload,
)

OPEN_STATES = [s for s in CaseState if not s.terminal]
TERMINAL_STATES = [s for s in CaseState if s.terminal]


def every_situation():
    """Every combination of the facts that decide which actions exist."""
    for state, case_type, shipped, context, has_deadline in itertools.product(
        CaseState, CaseType, (True, False), (None, *BuyerContext), (True, False)
    ):
        yield CaseFacts(
            state=state, type=case_type, order_shipped=shipped, buyer_context=context, has_deadline=has_deadline
        )


def facts(
    state: CaseState,
    type: CaseType = CaseType.RETURN_REFUND,
    *,
    shipped: bool = True,
    context: BuyerContext | None = None,
) -> CaseFacts:
    return CaseFacts(state=state, type=type, order_shipped=shipped, buyer_context=context)


def fields_of(error: BadPayload) -> list[str]:
    return [e["field"] for e in error.errors]


def bad_payload(action: str, payload: dict) -> BadPayload:
    with pytest.raises(BadPayload) as caught:
        parse_payload(action, payload)
    assert caught.value.action == action
    return caught.value


# --------------------------------------------------------------------------------------------
# Payloads


def test_reject_without_a_reason_names_the_reason_field():
    error = bad_payload("reject", {"note": "no"})
    assert fields_of(error) == ["reason"]
    assert "reason" in str(error)


def test_reject_with_an_empty_reason_is_refused():
    assert fields_of(bad_payload("reject", {"reason": ""})) == ["reason"]


def test_record_inspection_with_an_unknown_responsibility_names_the_field():
    error = bad_payload("record_inspection", {"passed": False, "responsibility": "the_cat"})
    assert fields_of(error) == ["responsibility"]
    assert "buyer_misuse" in error.errors[0]["message"]  # says what is allowed


def test_record_inspection_with_a_negative_deduction_names_the_field():
    error = bad_payload("record_inspection", {"passed": True, "responsibility": "no_fault", "deduction": -1})
    assert fields_of(error) == ["deduction"]


def test_extend_deadline_by_soon_names_the_field_and_says_how_to_write_a_duration():
    error = bad_payload("extend_deadline", {"by": "soon", "reason": "buyer travelling"})
    assert fields_of(error) == ["by"]
    assert "'soon' is not a duration" in error.errors[0]["message"]


def test_extend_deadline_reads_a_duration():
    payload = parse_payload("extend_deadline", {"by": "2d", "reason": "buyer travelling"})
    assert isinstance(payload, ExtendDeadlinePayload)
    assert payload.by == timedelta(days=2)


def test_unknown_extra_field_is_named():
    error = bad_payload("approve", {"amount": 100, "amuont": 100})
    assert fields_of(error) == ["amuont"]


def test_every_bad_field_is_named_at_once():
    error = bad_payload("submit_return_shipment", {"carrier": "", "shipping_cost": -5})
    assert sorted(fields_of(error)) == ["carrier", "shipping_cost", "tracking_number"]


def test_unknown_action_is_refused_listing_the_known_ones():
    error = bad_payload("refund_everything", {})
    assert fields_of(error) == ["action"]
    assert "approve" in error.errors[0]["message"]


def test_payload_that_is_not_an_object_is_refused():
    assert fields_of(bad_payload("approve", ["amount", 5])) == ["payload"]


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("arbitrate", {"outcome": "split_the_difference"}),
        ("arbitrate", {"outcome": "refund_partial", "amount": 0}),
        ("offer_partial_refund", {"amount": 0}),
        ("approve", {"amount": -1}),
        ("ship_item", {"carrier": "SF"}),
        ("add_note", {}),
    ],
)
def test_payloads_out_of_range_are_refused(action, payload):
    bad_payload(action, payload)


def test_a_valid_payload_comes_back_as_its_model():
    payload = parse_payload(
        "record_inspection",
        {"passed": False, "responsibility": "buyer_misuse", "evidence": ["https://img/1.jpg"], "note": "scratched"},
    )
    assert isinstance(payload, RecordInspectionPayload)
    assert payload.responsibility == "buyer_misuse"
    assert payload.evidence == ["https://img/1.jpg"]


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_limits_the_note_length(action):
    with pytest.raises(BadPayload) as caught:
        parse_payload(action, {"note": "x" * 2001})
    assert "note" in fields_of(caught.value)


# --------------------------------------------------------------------------------------------
# Who may act, per state


def test_merchant_decides_and_the_buyer_may_only_cancel_while_waiting_on_the_merchant():
    situation = facts(CaseState.AWAITING_MERCHANT_DECISION, CaseType.RETURN_REFUND)
    assert set(next_actions(situation, Role.STAFF)) == {
        "approve",
        "reject",
        "offer_partial_refund",
        "extend_deadline",
        "add_note",
    }
    assert set(next_actions(situation, Role.BUYER)) == {"cancel", "add_note"}


def test_buyer_cannot_approve_or_reject():
    for situation in every_situation():
        allowed = next_actions(situation, Role.BUYER)
        assert "approve" not in allowed
        assert "reject" not in allowed
        assert "record_inspection" not in allowed


def test_require_return_only_for_a_shipped_refund_only_case():
    assert "require_return" in next_actions(facts(CaseState.AWAITING_MERCHANT_DECISION, CaseType.REFUND_ONLY))
    assert "require_return" not in next_actions(
        facts(CaseState.AWAITING_MERCHANT_DECISION, CaseType.REFUND_ONLY, shipped=False)
    )
    assert "require_return" not in next_actions(facts(CaseState.AWAITING_MERCHANT_DECISION, CaseType.RETURN_REFUND))


@pytest.mark.parametrize("case_type", [CaseType.EXCHANGE, CaseType.REPAIR])
def test_no_partial_refund_offer_on_exchange_or_repair(case_type):
    assert "offer_partial_refund" not in next_actions(facts(CaseState.AWAITING_MERCHANT_DECISION, case_type))


@pytest.mark.parametrize(
    ("context", "buyer_actions"),
    [
        (BuyerContext.OFFER, {"accept_offer", "decline_offer", "cancel"}),
        (BuyerContext.REFUSAL, {"accept_offer", "revise", "escalate", "cancel"}),
        (BuyerContext.INSPECTION_FAILED, {"accept_return_to_buyer", "escalate", "cancel"}),
    ],
)
def test_buyer_answers_depend_on_what_they_answer(context, buyer_actions):
    situation = facts(CaseState.AWAITING_BUYER_RESPONSE, context=context)
    assert set(next_actions(situation, Role.BUYER)) == buyer_actions | {"add_note"}
    # The merchant waits: it may only extend the deadline or add a note.
    assert set(next_actions(situation, Role.STAFF)) == {"extend_deadline", "add_note"}


@pytest.mark.parametrize(
    ("state", "action", "roles"),
    [
        (CaseState.AWAITING_RETURN_SHIPMENT, "submit_return_shipment", {Role.BUYER}),
        (CaseState.RETURN_IN_TRANSIT, "confirm_return_received", {Role.STAFF, Role.SUPERVISOR}),
        (CaseState.RETURN_IN_TRANSIT, "record_inspection", {Role.STAFF, Role.SUPERVISOR}),
        (CaseState.AWAITING_INSPECTION, "record_inspection", {Role.STAFF, Role.SUPERVISOR}),
        (CaseState.AWAITING_MERCHANT_SHIPMENT, "ship_item", {Role.STAFF, Role.SUPERVISOR}),
        (CaseState.AWAITING_BUYER_CONFIRMATION, "confirm_receipt", {Role.BUYER}),
        (CaseState.AWAITING_BUYER_CONFIRMATION, "escalate", {Role.BUYER}),
        (CaseState.IN_ARBITRATION, "arbitrate", {Role.PLATFORM}),
        (CaseState.NEEDS_ATTENTION, "resume", {Role.SUPERVISOR}),
    ],
)
def test_each_step_belongs_to_the_party_of_the_actor_table(state, action, roles):
    assert actions_in(facts(state, CaseType.EXCHANGE))[action] == roles


def test_staff_and_supervisor_cannot_arbitrate():
    for situation in every_situation():
        for role in (Role.STAFF, Role.SUPERVISOR, Role.BUYER):
            assert "arbitrate" not in next_actions(situation, role)


def test_only_a_supervisor_can_resume():
    for situation in every_situation():
        roles = actions_in(situation).get("resume", frozenset())
        assert roles <= {Role.SUPERVISOR}
    assert "resume" not in next_actions(facts(CaseState.NEEDS_ATTENTION), Role.STAFF)
    assert "resume" in next_actions(facts(CaseState.NEEDS_ATTENTION), Role.SUPERVISOR)


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SYSTEM])
def test_operator_and_system_can_take_no_action_anywhere(role):
    for situation in every_situation():
        assert next_actions(situation, role) == []


def test_supervisor_may_do_everything_staff_may():
    for situation in every_situation():
        assert set(next_actions(situation, Role.STAFF)) <= set(next_actions(situation, Role.SUPERVISOR))


def test_terminal_cases_take_only_notes():
    for state in TERMINAL_STATES:
        assert set(actions_in(facts(state))) == {"add_note"}


def test_deadline_may_be_extended_by_merchant_or_platform_only_while_a_deadline_runs():
    running = actions_in(facts(CaseState.AWAITING_BUYER_CONFIRMATION, CaseType.EXCHANGE))
    assert running["extend_deadline"] == {Role.STAFF, Role.SUPERVISOR, Role.PLATFORM}
    no_deadline = CaseFacts(
        state=CaseState.AWAITING_BUYER_CONFIRMATION, type=CaseType.EXCHANGE, order_shipped=True, has_deadline=False
    )
    assert "extend_deadline" not in actions_in(no_deadline)
    assert "extend_deadline" not in actions_in(facts(CaseState.REFUNDING))
    assert "extend_deadline" not in actions_in(facts(CaseState.NEEDS_ATTENTION))


def test_only_the_platform_may_extend_the_merchants_own_deadline():
    merchant_deadline = CaseFacts(
        state=CaseState.AWAITING_MERCHANT_DECISION, type=CaseType.REFUND_ONLY, order_shipped=True,
        merchant_owns_deadline=True,
    )
    assert actions_in(merchant_deadline)["extend_deadline"] == {Role.PLATFORM}


def test_nobody_can_change_a_case_that_is_being_paid():
    assert set(actions_in(facts(CaseState.REFUNDING))) == {"add_note"}


def test_next_actions_without_a_role_lists_every_action():
    situation = facts(CaseState.IN_ARBITRATION)
    assert set(next_actions(situation)) == {"arbitrate", "cancel", "extend_deadline", "add_note"}


def test_every_action_in_the_table_has_a_payload_model():
    for situation in every_situation():
        assert set(actions_in(situation)) <= set(ACTIONS)


# --------------------------------------------------------------------------------------------
# Whose case it is


SHOP, BUYER_ID = "shop-1", "buyer-1"


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (Principal(role=Role.BUYER, id="buyer-1"), True),
        (Principal(role=Role.BUYER, id="buyer-2"), False),
        (Principal(role=Role.BUYER, id="buyer-2", shop_id="shop-1"), False),
        (Principal(role=Role.STAFF, id="alice", shop_id="shop-1"), True),
        (Principal(role=Role.STAFF, id="mallory", shop_id="shop-2"), False),
        (Principal(role=Role.STAFF, id="nobody"), False),
        (Principal(role=Role.SUPERVISOR, id="sam", shop_id="shop-1"), True),
        (Principal(role=Role.SUPERVISOR, id="sue", shop_id="shop-2"), False),
        (Principal(role=Role.PLATFORM, id="arbiter"), True),
        (Principal(role=Role.OPERATOR, id="oncall"), True),
    ],
    ids=lambda value: value if isinstance(value, bool) else f"{value.role}-{value.id}",
)
def test_can_access_only_own_cases(principal, allowed):
    assert can_access(principal, shop_id=SHOP, buyer_id=BUYER_ID) is allowed


def test_staff_cannot_pose_as_the_buyer_by_using_the_buyer_id():
    staff = Principal(role=Role.STAFF, id="buyer-1", shop_id="shop-9")
    assert not can_access(staff, shop_id=SHOP, buyer_id=BUYER_ID)
