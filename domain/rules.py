"""Who may do what, in which state: the table of a case's actions.

One row per action: the roles that may take it, the states it is allowed in (and any further
condition there), its command model and a one-line description. The validators, the case view's
``next_actions``, the API's routes and OpenAPI text and the CLI's subcommands all read this
table; what each action then does is in ``domain.lifecycle``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain import commands as c
from domain.commands import COMMANDS, BadPayload, BuyerContext, Command, parse_command
from domain.models import CaseState, CaseType, Principal, Role

S = CaseState
MERCHANT = frozenset({Role.STAFF, Role.SUPERVISOR})
BUYER = frozenset({Role.BUYER})
PLATFORM = frozenset({Role.PLATFORM})
NOTE_TAKERS = frozenset({Role.BUYER, Role.STAFF, Role.SUPERVISOR, Role.PLATFORM})
EXTENDERS = MERCHANT | PLATFORM
EVERY_STATE = frozenset(CaseState)
#: Live states with a deadline someone other than its owner may extend.
EXTENDABLE = frozenset(s for s in CaseState if not s.terminal) - {S.REFUNDING, S.NEEDS_ATTENTION}


@dataclass(frozen=True)
class CaseFacts:
    """The few facts about a case that decide which actions exist now."""

    state: CaseState
    type: CaseType
    order_shipped: bool
    buyer_context: BuyerContext | None = None
    has_deadline: bool = True
    merchant_owns_deadline: bool = False


def _always(facts: CaseFacts) -> bool:
    return True


def _context(*contexts: BuyerContext) -> Callable[[CaseFacts], bool]:
    return lambda facts: facts.buyer_context in contexts


@dataclass(frozen=True)
class Action:
    roles: frozenset[Role]
    states: frozenset[CaseState]
    command: type[Command]
    when: Callable[[CaseFacts], bool] = _always
    #: Who may take it when that depends on the case (else ``roles``).
    roles_now: Callable[[CaseFacts], frozenset[Role]] | None = None

    @property
    def description(self) -> str:
        """One line: who takes it and what it does (the command model's docstring)."""
        return (self.command.__doc__ or "").strip().rstrip(".")

    def allowed_roles(self, facts: CaseFacts) -> frozenset[Role]:
        return self.roles_now(facts) if self.roles_now else self.roles


def _extenders(facts: CaseFacts) -> frozenset[Role]:
    # The merchant may give the buyer or the courier more time, never itself.
    return PLATFORM if facts.merchant_owns_deadline else EXTENDERS


def _escalation(facts: CaseFacts) -> bool:
    return facts.state == S.AWAITING_BUYER_CONFIRMATION or facts.buyer_context in (
        BuyerContext.REFUSAL, BuyerContext.INSPECTION_FAILED)


def _only(*states: CaseState) -> frozenset[CaseState]:
    return frozenset(states)


#: Every action, in the order ``next_actions`` lists them.
ACTION_TABLE: dict[str, Action] = {
    "approve": Action(MERCHANT, _only(S.AWAITING_MERCHANT_DECISION), c.ApproveCommand),
    "reject": Action(MERCHANT, _only(S.AWAITING_MERCHANT_DECISION), c.RejectCommand),
    "offer_partial_refund": Action(MERCHANT, _only(S.AWAITING_MERCHANT_DECISION), c.OfferPartialRefundCommand,
                                   when=lambda f: f.type in (CaseType.REFUND_ONLY, CaseType.RETURN_REFUND)),
    "require_return": Action(MERCHANT, _only(S.AWAITING_MERCHANT_DECISION), c.RequireReturnCommand,
                             when=lambda f: f.type == CaseType.REFUND_ONLY and f.order_shipped),
    "accept_offer": Action(BUYER, _only(S.AWAITING_BUYER_RESPONSE), c.AcceptOfferCommand,
                           when=_context(BuyerContext.OFFER, BuyerContext.REFUSAL)),
    "accept_return_to_buyer": Action(BUYER, _only(S.AWAITING_BUYER_RESPONSE), c.AcceptReturnToBuyerCommand,
                                     when=_context(BuyerContext.INSPECTION_FAILED)),
    "decline_offer": Action(BUYER, _only(S.AWAITING_BUYER_RESPONSE), c.DeclineOfferCommand,
                            when=_context(BuyerContext.OFFER)),
    "revise": Action(BUYER, _only(S.AWAITING_BUYER_RESPONSE), c.ReviseCommand, when=_context(BuyerContext.REFUSAL)),
    "submit_return_shipment": Action(BUYER, _only(S.AWAITING_RETURN_SHIPMENT), c.SubmitReturnShipmentCommand),
    "confirm_return_received": Action(MERCHANT, _only(S.RETURN_IN_TRANSIT), c.ConfirmReturnReceivedCommand),
    "record_inspection": Action(MERCHANT, _only(S.RETURN_IN_TRANSIT, S.AWAITING_INSPECTION),
                                c.RecordInspectionCommand),
    "ship_item": Action(MERCHANT, _only(S.AWAITING_MERCHANT_SHIPMENT), c.ShipItemCommand),
    "confirm_receipt": Action(BUYER, _only(S.AWAITING_BUYER_CONFIRMATION), c.ConfirmReceiptCommand),
    "cancel": Action(BUYER, _only(S.AWAITING_MERCHANT_DECISION, S.AWAITING_BUYER_RESPONSE,
                                  S.AWAITING_RETURN_SHIPMENT, S.IN_ARBITRATION), c.CancelCommand),
    "escalate": Action(BUYER, _only(S.AWAITING_BUYER_RESPONSE, S.AWAITING_BUYER_CONFIRMATION), c.EscalateCommand,
                       when=_escalation),
    "arbitrate": Action(PLATFORM, _only(S.IN_ARBITRATION), c.ArbitrateCommand),
    "resume": Action(frozenset({Role.SUPERVISOR}), _only(S.NEEDS_ATTENTION), c.ResumeCommand),
    "extend_deadline": Action(EXTENDERS, EXTENDABLE, c.ExtendDeadlineCommand, when=lambda f: f.has_deadline,
                              roles_now=_extenders),
    "add_note": Action(NOTE_TAKERS, EVERY_STATE, c.AddNoteCommand),
}
ACTIONS = tuple(ACTION_TABLE)
assert all(COMMANDS[name] is action.command for name, action in ACTION_TABLE.items()) and len(COMMANDS) == len(ACTIONS)

#: A command's old name, kept for clients written before the new one: on a failed inspection
#: the buyer's ``accept_offer`` is ``accept_return_to_buyer`` (there is no offer to accept).
ALIASES = {("accept_offer", BuyerContext.INSPECTION_FAILED): "accept_return_to_buyer"}


def resolve(action: str, facts: CaseFacts) -> str:
    """The action a command means in this situation (its alias resolved)."""
    if facts.state == S.AWAITING_BUYER_RESPONSE:
        return ALIASES.get((action, facts.buyer_context), action)  # type: ignore[arg-type]
    return action


def actions_in(facts: CaseFacts) -> dict[str, frozenset[Role]]:
    """Every action possible in this situation, with the roles that may take it."""
    return {
        name: action.allowed_roles(facts)
        for name, action in ACTION_TABLE.items()
        if facts.state in action.states and action.when(facts)
    }


def next_actions(facts: CaseFacts, role: Role | None = None) -> list[str]:
    """Actions possible now; for one role when given."""
    return [a for a, roles in actions_in(facts).items() if role is None or role in roles]


def can_access(principal: Principal, *, shop_id: str, buyer_id: str) -> bool:
    """Nobody acts on another shop's case or another buyer's case."""
    if principal.role in (Role.PLATFORM, Role.OPERATOR, Role.SYSTEM):
        return True
    if principal.role == Role.BUYER:
        return principal.id == buyer_id
    return principal.shop_id == shop_id


def parse_payload(action: str, payload: Any) -> Command:
    """A body for ``action`` as its command model (see ``domain.commands.parse_command``)."""
    return parse_command(action, payload)


__all__ = ["ACTIONS", "ACTION_TABLE", "BadPayload", "BuyerContext", "CaseFacts", "actions_in", "can_access",
           "next_actions", "parse_payload", "resolve"]
