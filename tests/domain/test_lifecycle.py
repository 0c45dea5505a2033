"""The decider without Temporal: every state x action x role cell and every deadline's expiry,
parametrised over the tables, and what the tables must never allow (hypothesis)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import errors, lifecycle
from domain.case_view import details
from domain.casefile import AlarmRang, Case, ParcelScanned, Pay, PayoutPaid, PayoutRefused, Refused, Settle
from domain.lifecycle import DEADLINES, MAX_REARMS, STATES
from domain.models import CaseState, CloseReason, ParcelStatus, Principal, Role, WaitingOn
from domain.rules import ACTION_TABLE, ACTIONS, actions_in, resolve
from tests.domain.lifecycle_cases import NOW, POLICY, SITUATIONS, command, opened, run, step
from tests.support.factory import BUYER, PLATFORM, STAFF

S = CaseState
ACTORS = {
    Role.SYSTEM: Principal(role=Role.SYSTEM, id="shop-backend"),
    Role.BUYER: BUYER,
    Role.STAFF: STAFF,
    Role.SUPERVISOR: Principal(role=Role.SUPERVISOR, id="sam", shop_id="shop-1"),
    Role.PLATFORM: PLATFORM,
    Role.OPERATOR: Principal(role=Role.OPERATOR, id="oncall"),
}


def assert_well_formed(case: Case) -> None:
    """A live state waits on exactly one party and runs one of its own deadlines (or, paying,
    none); an ended case waits on nobody and has no deadline."""
    rule = STATES[case.state]
    if case.state.terminal:
        assert rule.waiting_on is None and case.deadline is None
        return
    assert isinstance(rule.waiting_on, WaitingOn)
    if case.deadline is None:
        assert case.state == S.REFUNDING or (DEADLINES[STATES[case.state].deadlines[0]].rearms), case.state
    else:
        assert case.deadline.kind in rule.deadlines, (case.state, case.deadline.kind)
        assert case.deadline.owner == DEADLINES[case.deadline.kind].owner


# --------------------------------------------------------------------------------------------
# Every state x action x role cell


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("situation", SITUATIONS)
def test_every_cell_does_what_the_action_table_says(situation: str, action: str):
    case = SITUATIONS[situation]
    facts = case.facts()
    table = actions_in(facts)
    meant = resolve(action, facts)
    for role, actor in ACTORS.items():
        cmd = command(action, actor)
        if meant not in table:
            expected = errors.WRONG_STATE
        elif role not in table[meant]:
            expected = errors.FORBIDDEN
        else:
            new, effects = step(case, cmd)
            assert new.version > case.version
            assert (new.timeline[len(case.timeline)].action, new.timeline[len(case.timeline)].actor.role) == (
                action, role)
            assert_well_formed(new)
            assert case.state in ACTION_TABLE[meant].states
            continue
        with pytest.raises(Refused) as refused:
            step(case, cmd)
        assert refused.value.kind == expected, (situation, action, role, refused.value.message)


def test_every_state_has_a_situation_and_every_action_is_allowed_somewhere():
    assert {case.state for case in SITUATIONS.values()} == set(CaseState)
    allowed = {action for case in SITUATIONS.values() for action in actions_in(case.facts())}
    assert allowed == set(ACTIONS)


def test_another_shops_staff_and_another_buyer_are_told_it_is_not_theirs():
    case = SITUATIONS["decision-refund-shipped"]
    for stranger in (Principal(role=Role.STAFF, id="m", shop_id="shop-2"), Principal(role=Role.BUYER, id="b-2")):
        with pytest.raises(Refused) as refused:
            step(case, command("add_note", stranger))
        assert refused.value.kind == errors.NOT_YOURS


def test_who_may_extend_the_inspection_deadline():
    """The merchant's own deadline: only the platform may give the merchant more time."""
    case = SITUATIONS["inspection"]
    assert actions_in(case.facts())["extend_deadline"] == {Role.PLATFORM}
    extended, _ = step(case, command("extend_deadline", PLATFORM))
    assert case.deadline is not None and extended.deadline is not None
    assert extended.deadline.at == case.deadline.at + timedelta(days=1)
    assert extended.timeline[-1].detail["new_deadline"] == extended.deadline.at.isoformat()


def test_accepting_a_failed_inspection_has_its_own_name_and_the_old_one_still_works():
    case = SITUATIONS["answer-inspection"]
    assert "accept_return_to_buyer" in actions_in(case.facts()) and "accept_offer" not in actions_in(case.facts())
    for action in ("accept_return_to_buyer", "accept_offer"):
        ended, _ = step(case, command(action, BUYER))
        assert (ended.state, ended.close_reason) == (S.CLOSED, CloseReason.RETURNED_TO_BUYER)


def test_a_wrong_state_names_the_callers_actions_apart_from_everyones():
    case = SITUATIONS["answer-offer"]
    with pytest.raises(Refused) as refused:
        step(case, command("approve", STAFF))
    details_ = refused.value.details
    assert details_["actions_by_role"]["buyer"] == ["accept_offer", "decline_offer", "cancel", "add_note"]
    assert refused.value.message.endswith("You (staff) may now: extend_deadline, add_note")


# --------------------------------------------------------------------------------------------
# Every deadline's expiry


#: What DOMAIN.md says happens when each wait runs out: (state after, close reason).
EXPIRY = {
    "decision-refund-shipped": (S.REFUNDING, None),  # auto-approve and refund
    "decision-exchange": (S.AWAITING_RETURN_SHIPMENT, None),  # the return gets its address
    "return-shipment": (S.CLOSED, CloseReason.BUYER_TIMEOUT),
    "in-transit": (S.REFUNDING, None),  # auto-refund (no courier event: from the tracking number)
    "inspection": (S.REFUNDING, None),
    "answer-refusal": (S.CLOSED, CloseReason.REJECTED),
    "answer-offer": (S.AWAITING_MERCHANT_DECISION, None),  # the offer lapses, a fresh clock
    "answer-inspection": (S.CLOSED, CloseReason.RETURNED_TO_BUYER),
    "merchant-shipment": (S.REFUNDING, None),  # exchange: converted to a refund
    "merchant-shipment-repair": (S.IN_ARBITRATION, None),  # repair: escalated to the platform
    "buyer-confirmation": (S.COMPLETED, None),  # auto-confirmed
    "arbitration": (S.IN_ARBITRATION, None),  # a reminder, no automatic outcome
    "needs-attention": (S.NEEDS_ATTENTION, None),
}


def _with_deadlines() -> dict[str, Case]:
    cases = {name: case for name, case in SITUATIONS.items() if case.deadline is not None}
    cases["merchant-shipment-repair"] = run(opened("repair", "quality_issue"), ("approve", STAFF),
                                            ("submit_return_shipment", BUYER), ("record_inspection", STAFF))
    return cases


WITH_DEADLINES = _with_deadlines()


def test_every_deadline_of_the_table_is_tested():
    assert {case.deadline.kind for case in WITH_DEADLINES.values() if case.deadline} == set(DEADLINES)
    assert set(WITH_DEADLINES) == set(EXPIRY)


@pytest.mark.parametrize("situation", sorted(EXPIRY))
def test_every_deadline_fires_its_outcome_once(situation: str):
    case = WITH_DEADLINES[situation]
    deadline = case.deadline
    assert deadline is not None
    rule = DEADLINES[deadline.kind]
    expired, effects = step(case, AlarmRang(at=deadline.at), at=deadline.at)
    state, reason = EXPIRY[situation]
    assert (expired.state, expired.close_reason) == (state, reason)
    entry = next(e for e in expired.timeline[len(case.timeline):] if e.action == "deadline_expired")
    assert entry.detail == {"deadline": deadline.kind, "deadline_at": deadline.at.isoformat(),
                            "outcome": rule.outcome(case).en}
    assert_well_formed(expired)
    if rule.rearms:
        assert expired.deadline is not None and expired.deadline.kind == deadline.kind
        assert expired.deadline.at == deadline.at + rule.window(case, POLICY.deadlines)
    else:
        assert expired.deadline is None or expired.deadline.kind != deadline.kind or expired.deadline.at != deadline.at
    if state == S.REFUNDING:
        assert [type(e) for e in effects if isinstance(e, Pay)] == [Pay]
    if state.terminal:
        assert [e for e in effects if isinstance(e, Settle)]
    # Exactly once: the same timer again changes nothing more.
    again, more = step(expired, AlarmRang(at=deadline.at), at=deadline.at)
    assert [e.action for e in again.timeline].count("deadline_expired") == 1 or rule.rearms
    assert not [e for e in more if isinstance(e, Pay)]


@pytest.mark.parametrize("kind", sorted(DEADLINES))
def test_every_deadline_has_an_outcome_in_english_and_chinese(kind: str):
    case = next(c for c in WITH_DEADLINES.values() if c.deadline and c.deadline.kind == kind)
    outcome = DEADLINES[kind].outcome(case)
    assert outcome.en and outcome.zh and outcome.en != outcome.zh


def test_reminders_before_a_merchant_deadline_and_a_buyer_deadline():
    merchant = {a.label for a in lifecycle.alarms(SITUATIONS["decision-exchange"], POLICY)}
    assert {"remind shop 1d before merchant_decision", "remind shop 2h before merchant_decision",
            "remind supervisor 12h before merchant_decision"} <= merchant
    buyer = {a.label for a in lifecycle.alarms(SITUATIONS["return-shipment"], POLICY)}
    assert "remind buyer 1d before buyer_return_shipment" in buyer


# --------------------------------------------------------------------------------------------
# Bounded state


def test_a_deadline_without_an_outcome_re_arms_a_bounded_number_of_times():
    case = SITUATIONS["arbitration"]
    rings = 0
    while case.deadline is not None:
        case, _ = step(case, AlarmRang(at=case.deadline.at), at=case.deadline.at)
        rings += 1
        assert rings <= MAX_REARMS + 1
    assert rings == MAX_REARMS + 1
    assert case.state == S.IN_ARBITRATION and lifecycle.waiting_on(case) == WaitingOn.PLATFORM
    decided, effects = step(case, command("arbitrate", PLATFORM), at=case.updated_at + timedelta(days=30))
    assert decided.state == S.REFUNDING and [e for e in effects if isinstance(e, Pay)]


def test_fired_alarms_and_seen_parcel_events_stay_bounded():
    case = SITUATIONS["buyer-confirmation"]
    for _ in range(30):  # a long series of extensions, each with its reminders
        assert case.deadline is not None
        reminder = min(lifecycle.alarms(case, POLICY), key=lambda a: a.at)
        case, _ = step(case, AlarmRang(at=reminder.at), at=reminder.at)
        case, _ = step(case, command("extend_deadline", STAFF), at=reminder.at)
        assert len(case.fired) <= 3
    for n in range(100):
        event = ParcelScanned(carrier=f"c{n}", tracking_number="O1", status=list(ParcelStatus)[n % 4],
                              occurred_at=NOW)
        case, _ = step(case, event)
    assert len(case.seen_parcel_events) <= 4


# --------------------------------------------------------------------------------------------
# What no sequence of commands and expiries may do


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["refund_only", "return_refund", "exchange", "repair"]),
       st.sampled_from(["quality_issue", "changed_mind", "out_of_stock", "not_received"]),
       st.booleans(), st.data())
def test_no_sequence_overpays_pays_twice_or_loses_its_waiting_party(case_type, reason, shipped, data):
    case = opened(case_type, reason, shipped=shipped)
    cap = case.grant.max_refund
    assert cap <= case.order.paid_total
    now = NOW
    outstanding: Pay | None = None
    payouts = 0
    for _ in range(data.draw(st.integers(1, 25))):
        now += timedelta(minutes=data.draw(st.integers(1, 600)))
        move = data.draw(st.sampled_from(["command", "alarm", "payout", "parcel"]))
        if move == "payout" and outstanding is not None:
            ok = data.draw(st.booleans())
            event = PayoutPaid(payment_id="p", amount=outstanding.refund + outstanding.reimbursement, currency="CNY",
                               paid_under=None, already_paid=False) if ok else PayoutRefused(reason="refused")
            outstanding = None
            payouts += ok
        elif move == "alarm":
            alarms = lifecycle.alarms(case, POLICY)
            if not alarms:
                continue
            now = max(now, min(a.at for a in alarms))
            event = AlarmRang(at=min(a.at for a in alarms))
        elif move == "parcel":
            event = ParcelScanned(carrier="sf", tracking_number=data.draw(st.sampled_from(["R1", "O1"])),
                                  status=data.draw(st.sampled_from(list(ParcelStatus))), occurred_at=now)
        else:
            possible = actions_in(case.facts())
            if possible and data.draw(st.integers(0, 3)):  # mostly what the table allows now
                action = data.draw(st.sampled_from(sorted(possible)))
                actor = ACTORS[data.draw(st.sampled_from(sorted(possible[action])))]
            else:  # sometimes anything: the decider must refuse it
                action = data.draw(st.sampled_from(ACTIONS))
                actor = data.draw(st.sampled_from(list(ACTORS.values())))
            amount = data.draw(st.integers(1, 3 * cap + 2))
            fields = {"amount": amount} if action in ("offer_partial_refund", "approve") and case.type == "refund_only" \
                else {"outcome": "refund_partial", "amount": amount} if action == "arbitrate" else {}
            try:
                event = command(action, actor, **fields)
                case, effects = lifecycle.decide(case, event, now, POLICY)
            except Refused:
                continue
            event = None  # applied
        if event is not None:
            case, effects = lifecycle.decide(case, event, now, POLICY)
        for effect in effects:
            if isinstance(effect, Pay):
                assert outstanding is None and payouts == 0, "a second payout while one runs or after one paid"
                assert effect.refund <= cap
                outstanding = effect
        assert_well_formed(case)
        assert payouts <= 1
        if case.paid_lines is not None:
            refunded = sum(line.amount for line in case.paid_lines if line.kind in (
                "items", "original_shipping", "deduction", "agreed_adjustment"))
            assert 0 <= refunded <= cap <= case.order.paid_total
        effects = []


# --------------------------------------------------------------------------------------------
# How it reads in the Temporal UI


def test_current_details_read_right():
    case = SITUATIONS["decision-refund-shipped"].model_copy(update={"created_at": NOW.replace(microsecond=123456)})
    text = details(case, POLICY)
    assert "waiting on merchant until" in text and "merchant's merchant decision deadline" in text
    assert "105.00 CNY" in text or ".00 CNY" in text
    assert "(none)" not in text and ".123456" not in text
    paying = SITUATIONS["refunding"]
    assert f"refund {lifecycle.refund_amount(paying, POLICY) // 100}.00 CNY (pending)" in details(paying, POLICY)
