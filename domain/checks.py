"""Whether a case takes a command now: who acts, in which state, on which version, before which
deadline, and the business rules on amounts and inspections. Raises ``Refused``; changes nothing.

The case workflow's update validator calls :func:`check`, so a refused command is never written
to history; ``domain.lifecycle.decide`` calls it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain import commands as c
from domain import errors, money
from domain.casefile import Refused
from domain.commands import CaseCommand
from domain.durations import format_duration
from domain.models import CaseType, Principal, Responsibility, Role
from domain.policy import Policy
from domain.rules import CaseFacts, actions_in, can_access, resolve

if TYPE_CHECKING:
    from datetime import datetime

    from domain.casefile import Case


def check(case: Case, envelope: CaseCommand, now: datetime, policy: Policy) -> None:
    actor, cmd = envelope.actor, envelope.command
    if not can_access(actor, shop_id=case.order.shop_id, buyer_id=case.order.buyer_id):
        raise Refused(errors.NOT_YOURS, f"{actor.role} {actor.id} may not act on case {case.case_id}")
    situation = case.facts()
    table = actions_in(situation)
    action = resolve(cmd.action, situation)
    if action not in table:
        raise wrong_state(case, situation, cmd.action, actor)
    if actor.role not in table[action]:
        allowed = sorted(r.value for r in table[action])
        raise Refused(errors.FORBIDDEN, f"a {actor.role} may not {cmd.action}; in state {case.state} "
                      f"only {', '.join(allowed)} may", state=case.state)
    if cmd.expected_version is not None and cmd.expected_version != case.version:
        raise Refused(errors.STALE_VERSION, f"the case is at version {case.version}, not {cmd.expected_version}: "
                      "reload it and decide again", state=case.state, version=case.version)
    d = case.deadline
    if d is not None and action != "add_note" and now >= d.at:
        raise Refused(errors.DEADLINE_PASSED, f"the {d.kind} deadline passed at {d.at.isoformat()}; "
                      f"{d.on_expiry} is being applied", state=case.state, deadline=d.at.isoformat())
    _business_rules(case, actor, cmd, policy)


def actions_by_role(situation: CaseFacts) -> dict[str, list[str]]:
    by_role: dict[str, list[str]] = {}
    for action, roles in actions_in(situation).items():
        for role in roles:
            by_role.setdefault(role.value, []).append(action)
    return by_role


def wrong_state(case: Case, situation: CaseFacts, action: str, actor: Principal) -> Refused:
    """Says the state and what happened; the caller's own actions are named apart from everyone's."""
    text = f"case {case.case_id} is {case.state}"
    if case.close_reason:
        text += f" ({case.close_reason})"
    text += f"; {action} is not possible there"
    if case.last_automatic:
        text += f". Already happened: {case.last_automatic}"
    by_role = actions_by_role(situation)
    mine = by_role.get(actor.role.value, [])
    return Refused(errors.WRONG_STATE, f"{text}. You ({actor.role}) may now: {', '.join(mine) or 'nothing'}",
                   situation=text, state=case.state, allowed_actions=list(actions_in(situation)),
                   actions_by_role=by_role, already_happened=case.last_automatic)


def _bad(field: str, message: str, text: str) -> Refused:
    return Refused(errors.INVALID_PAYLOAD, text, errors=[{"field": field, "message": message}])


def _too_much(field: str, amount: int, cap: int) -> Refused:
    return _bad(field, f"at most {cap}", f"{field}: {amount} is more than this case may refund ({cap})")


def _staff_limit(case: Case, actor: Principal, amount: int, policy: Policy) -> None:
    limit = policy.money.staff_refund_limit
    if actor.role == Role.STAFF and amount > limit:
        raise Refused(errors.NEEDS_SUPERVISOR, f"a refund of {amount} exceeds the staff limit of {limit} "
                      f"{case.order.currency} minor units: a supervisor must approve it", limit=limit)


def _business_rules(case: Case, actor: Principal, cmd: Any, policy: Policy) -> None:
    cap = case.grant.max_refund
    if isinstance(cmd, c.ApproveCommand):
        if cmd.amount is not None and case.type != CaseType.REFUND_ONLY:
            raise _bad("amount", "only for refund_only",
                       "amount: applies to refund_only cases; a return's refund is set at inspection")
        if cmd.amount is not None and cmd.amount > cap:
            raise _too_much("amount", cmd.amount, cap)
        if case.type == CaseType.REFUND_ONLY:
            _staff_limit(case, actor, cmd.amount if cmd.amount is not None else case.default_approval_amount(), policy)
        elif case.type == CaseType.RETURN_REFUND:
            _staff_limit(case, actor, money.computed_refund(case.grant), policy)
    elif isinstance(cmd, c.OfferPartialRefundCommand):
        if cmd.amount > cap:
            raise _too_much("amount", cmd.amount, cap)
        _staff_limit(case, actor, cmd.amount, policy)
    elif isinstance(cmd, c.ReviseCommand):
        if cmd.requested_refund is not None and cmd.requested_refund > cap:
            raise _too_much("requested_refund", cmd.requested_refund, cap)
    elif isinstance(cmd, c.RecordInspectionCommand):
        _inspection_rules(case, cmd)
    elif isinstance(cmd, c.ArbitrateCommand):
        if cmd.outcome == "refund_partial" and cmd.amount is None:
            raise _bad("amount", "required for refund_partial", "amount: required for refund_partial")
        if cmd.outcome != "refund_partial" and cmd.amount is not None:
            raise _bad("amount", "only with refund_partial",
                       f"amount: only refund_partial takes an amount, not {cmd.outcome}")
        if cmd.amount is not None and cmd.amount > cap:
            raise _too_much("amount", cmd.amount, cap)
    elif isinstance(cmd, c.ExtendDeadlineCommand):
        limit = policy.deadlines.max_extension
        if cmd.by > limit:
            raise _bad("by", f"at most {format_duration(limit)}", f"by: at most {format_duration(limit)} at a time")


def _inspection_rules(case: Case, cmd: c.RecordInspectionCommand) -> None:
    if cmd.passed and cmd.responsibility == Responsibility.BUYER_MISUSE:
        raise _bad("responsibility", "buyer_misuse needs passed=false",
                   "responsibility: buyer_misuse means the inspection did not pass")
    if not cmd.passed and cmd.responsibility not in (Responsibility.BUYER_MISUSE, Responsibility.NO_FAULT):
        raise _bad("responsibility", "buyer_misuse or no_fault",
                   f"responsibility: a failed inspection is buyer_misuse or no_fault, not {cmd.responsibility}")
    if not cmd.passed and cmd.responsibility == Responsibility.BUYER_MISUSE and not cmd.evidence:
        raise _bad("evidence", "at least one url", "evidence: a failed inspection blaming the buyer needs evidence")
    if cmd.deduction and cmd.deduction > case.grant.items_value:
        raise _too_much("deduction", cmd.deduction, case.grant.items_value)
