"""Cases in every situation, built with the decider itself (no Temporal), for the lifecycle tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain import lifecycle
from domain.casefile import Case, Effect, Pay, PayoutPaid
from domain.commands import BuyerContext, CaseCommand, parse_command
from domain.deadlines import DEADLINES
from domain.models import CaseState, CaseType, Principal
from domain.money import grant_for
from domain.policy import Policy
from domain.step import Step
from tests.support.factory import BUYER, PLATFORM, STAFF, SUPERVISOR, SYSTEM, request

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
POLICY = Policy()
S = CaseState

#: A valid payload for each action (staff may take every merchant one: under the staff limit).
PAYLOADS: dict[str, dict[str, Any]] = {
    "reject": {"reason": "as described"},
    "offer_partial_refund": {"amount": 3_000},
    "submit_return_shipment": {"carrier": "sf", "tracking_number": "R1"},
    "record_inspection": {"passed": True, "responsibility": "product_defect"},
    "ship_item": {"carrier": "sf", "tracking_number": "O1"},
    "arbitrate": {"outcome": "refund_full"},
    "extend_deadline": {"by": "1d", "reason": "travelling"},
    "add_note": {"note": "called"},
}


def command(action: str, actor: Principal, **fields: Any) -> CaseCommand:
    return CaseCommand(actor=actor, command=parse_command(action, {**PAYLOADS.get(action, {}), **fields}))


def opened(case_type: str = "return_refund", reason: str = "quality_issue", *, shipped: bool = True,
           **extra: Any) -> Case:
    req = request(NOW, "lc-1", type=case_type, reason=reason, order_kwargs={"shipped": shipped}, **extra)
    grant = grant_for(req, claimed_before={}, refund_reserved_before=0, shipping_already_refunded=False)
    case, _ = lifecycle.open_case(req, grant, ledger_workflow_id="ledger", opened_by=SYSTEM, opened_at=NOW, now=NOW,
                                  policy=POLICY)
    return case


def step(case: Case, event: Any, at: datetime | None = None) -> tuple[Case, list[Effect]]:
    return lifecycle.decide(case, event, at or NOW + timedelta(minutes=1), POLICY)


def paid(case: Case, effects: list[Effect]) -> Case:
    """Carry out a payout the step asked for, as the provider would."""
    pay = next(e for e in effects if isinstance(e, Pay))
    case, _ = step(case, PayoutPaid(payment_id="p-1", amount=pay.refund + pay.reimbursement, currency="CNY",
                                    paid_under=None, already_paid=False))
    return case


def run(case: Case, *steps: tuple[str, Principal]) -> Case:
    for action, actor in steps:
        case, _ = step(case, command(action, actor))
    return case


def _in_transit(case_type: str) -> Case:
    return run(opened(case_type), ("approve", STAFF), ("submit_return_shipment", BUYER))


#: One case per situation that decides which actions exist: (name, case).
def situations() -> dict[str, Case]:
    refund = opened("refund_only", "not_as_described")
    needs_attention = refund.model_copy(update={"state": S.NEEDS_ATTENTION})
    needs_attention.deadline = Step(needs_attention, NOW, POLICY, DEADLINES).deadline("needs_attention_followup")
    return {
        "decision-refund-shipped": refund,
        "decision-exchange": opened("exchange", "wrong_item"),
        "answer-refusal": run(refund, ("reject", STAFF)),
        "answer-offer": run(refund, ("offer_partial_refund", STAFF)),
        "answer-inspection": step(_in_transit("return_refund"),
                                  command("record_inspection", STAFF, passed=False, responsibility="no_fault"))[0],
        "return-shipment": run(opened(), ("approve", STAFF)),
        "in-transit": _in_transit("return_refund"),
        "inspection": run(_in_transit("return_refund"), ("confirm_return_received", STAFF)),
        "merchant-shipment": run(_in_transit("exchange"), ("record_inspection", STAFF)),
        "buyer-confirmation": run(_in_transit("exchange"), ("record_inspection", STAFF), ("ship_item", STAFF)),
        "arbitration": run(refund, ("reject", STAFF), ("escalate", BUYER)),
        "refunding": run(refund, ("approve", SUPERVISOR)),
        "needs-attention": needs_attention,
        "refunded": paid(*step(refund, command("approve", STAFF))),
        "closed": run(refund, ("cancel", BUYER)),
        "completed": run(_in_transit("exchange"), ("record_inspection", STAFF), ("ship_item", STAFF),
                         ("confirm_receipt", BUYER)),
        "arbitrated": run(refund, ("reject", STAFF), ("escalate", BUYER), ("arbitrate", PLATFORM)),
    }


SITUATIONS = situations()
CONTEXTS = {"answer-refusal": BuyerContext.REFUSAL, "answer-offer": BuyerContext.OFFER,
            "answer-inspection": BuyerContext.INSPECTION_FAILED}
TYPES = {name: case.type for name, case in SITUATIONS.items()}
assert {case.state for case in SITUATIONS.values()} == set(CaseState), "every state has a situation"
assert TYPES["decision-exchange"] == CaseType.EXCHANGE
