"""How a case reads: the view every allowed reader gets, and the text operators see in the
Temporal UI (amounts in major units with the currency, times to the second, the deadline named
for the party it waits on)."""

from __future__ import annotations

from datetime import UTC, datetime

from domain import money
from domain.casefile import Case
from domain.checks import actions_by_role
from domain.lifecycle import DEADLINES, payout_lines, waiting_on
from domain.models import CaseView, DeadlineView, RefundView
from domain.policy import Policy
from domain.rules import actions_in


def view(case: Case, policy: Policy) -> CaseView:
    d = case.deadline
    lines = payout_lines(case, policy)
    refund, reimbursement = money.refund_total(lines), money.reimbursement_total(lines)
    situation = case.facts()
    return CaseView(
        case_id=case.case_id, type=case.type, reason=case.reason, order_id=case.order.order_id,
        shop_id=case.order.shop_id, buyer_id=case.order.buyer_id, state=case.state,
        waiting_on=waiting_on(case), deadline=d.at if d else None,
        deadline_detail=DeadlineView(kind=d.kind, at=d.at, on_expiry=d.on_expiry) if d else None,
        close_reason=case.close_reason, dispute_risk=case.dispute_risk,
        refund=RefundView(amount=refund + reimbursement, refund=refund, reimbursement=reimbursement,
                          currency=case.order.currency, status=case.payout_status, breakdown=lines,
                          payment_id=case.payment_id),
        policy_version=policy.version, version=case.version, created_at=case.created_at,
        updated_at=case.updated_at, buyer_context=case.buyer_context, offer=case.offer,
        return_tracking=case.return_tracking, outbound_tracking=case.outbound_tracking,
        needs_attention_reason=case.needs_attention_reason, order=case.order, timeline=list(case.timeline),
        next_actions=list(actions_in(situation)), actions_by_role=actions_by_role(situation),
    )


def clock(at: datetime) -> str:
    """A time as operators read it: UTC, to the second."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def details(case: Case, policy: Policy) -> str:
    """The workflow's current details in the Temporal UI (markdown)."""
    text = f"**{case.state}**"
    party = waiting_on(case)
    d = case.deadline
    if party:
        text += f" · waiting on {party}"
    if d:
        rule = DEADLINES[d.kind]
        text += f" until {clock(d.at)} ({rule.owner}'s {d.kind.replace('_', ' ')} deadline; then {d.on_expiry})"
    if case.close_reason:
        text += f" · {case.close_reason}"
    if case.dispute_risk:
        text += " · ⚠ dispute risk"
    lines = payout_lines(case, policy)
    total = money.refund_total(lines) + money.reimbursement_total(lines)
    text += f"\n\nrefund {money.format_amount(total, case.order.currency)}"
    if case.payout_status != "none":
        text += f" ({case.payout_status})"
    return text
