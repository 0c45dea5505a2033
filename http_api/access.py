"""Who may see a case and who may take an action, checked before the engine is asked.

The engine checks again (its update validators); checking here first answers ``404`` for a
case the caller may not see (the same answer as for a case that does not exist) and ``403`` for
a role that may never take the action, without a round trip to the workflow.
"""

from __future__ import annotations

from domain.models import CaseView, Principal, Role
from domain.rules import ACTION_TABLE, can_access

READ_ALL = frozenset({Role.PLATFORM, Role.OPERATOR})
LISTERS = frozenset({Role.STAFF, Role.SUPERVISOR, Role.PLATFORM, Role.OPERATOR})


#: Every role that may take each action somewhere (from the one action table).
ACTION_ROLES = {name: action.roles for name, action in ACTION_TABLE.items()}


def can_see(principal: Principal, *, shop_id: str, buyer_id: str) -> bool:
    """The buyer who owns it, its shop's staff and supervisors, the platform, operators, and
    systems (a system token bound to a shop sees that shop's cases only)."""
    if principal.role in READ_ALL:
        return True
    if principal.role == Role.SYSTEM:
        return principal.shop_id is None or principal.shop_id == shop_id
    return can_access(principal, shop_id=shop_id, buyer_id=buyer_id)


def may_take(principal: Principal, action: str) -> bool:
    return principal.role in ACTION_ROLES.get(action, frozenset())


def view_for(principal: Principal, view: CaseView) -> CaseView:
    """The view with ``next_actions`` narrowed to what this caller's role may do now; operators,
    who watch every case, see every party's next actions."""
    if principal.role == Role.OPERATOR:
        return view
    mine = view.actions_by_role.get(principal.role.value, [])
    return view.model_copy(update={"next_actions": list(mine)})
