"""Every caller x every action, on a case in a state where that action exists.

The expected answers come from the actors table of ``shared/DOMAIN.md``, written out here
rather than read from the engine: 2xx for a role that may take the action on a case it may see,
403 for a role that may not, 404 for another buyer's or another shop's case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from domain.rules import ACTIONS
from tests.api.conftest import PRINCIPALS, Api, uid

MERCHANT = {"staff", "supervisor"}
BUYER = {"buyer"}
EXPECTED_ROLES: dict[str, set[str]] = {
    "approve": MERCHANT,
    "reject": MERCHANT,
    "offer_partial_refund": MERCHANT,
    "require_return": MERCHANT,
    "confirm_return_received": MERCHANT,
    "record_inspection": MERCHANT,
    "ship_item": MERCHANT,
    "accept_offer": BUYER,
    "accept_return_to_buyer": BUYER,
    "decline_offer": BUYER,
    "revise": BUYER,
    "submit_return_shipment": BUYER,
    "confirm_receipt": BUYER,
    "cancel": BUYER,
    "escalate": BUYER,
    "arbitrate": {"platform"},
    "extend_deadline": {"staff", "supervisor", "platform"},
    "add_note": {"buyer", "staff", "supervisor", "platform"},
    "resume": {"supervisor"},
}
CALLERS = ("system", "buyer", "other_buyer", "staff", "other_staff", "supervisor", "platform", "operator")
NOT_THEIRS = {"other_buyer", "other_staff"}  # another buyer; staff of another shop


def payload(action: str) -> dict[str, Any]:
    payloads: dict[str, dict[str, Any]] = {
        "reject": {"reason": "looks used"},
        "offer_partial_refund": {"amount": 3_000},
        "revise": {"description": "more photos attached", "evidence": ["https://img.example/2.jpg"]},
        "submit_return_shipment": {"carrier": "sf", "tracking_number": uid("SF")},
        "record_inspection": {"passed": True, "responsibility": "product_defect"},
        "ship_item": {"carrier": "sf", "tracking_number": uid("OUT")},
        "arbitrate": {"outcome": "refund_full"},
        "extend_deadline": {"by": "1d", "reason": "the buyer is travelling"},
        "add_note": {"note": "called the buyer"},
    }
    return payloads.get(action, {})


# Situations, each reached through the API from a fresh case.


async def decision(api: Api) -> str:  # refund-only on a shipped order: every merchant decision exists
    return (await api.opened(type="refund_only", reason="quality_issue"))["case_id"]


async def offer(api: Api) -> str:
    case_id = await decision(api)
    await api.ok(case_id, "offer_partial_refund", "staff", payload("offer_partial_refund"))
    return case_id


async def refusal(api: Api) -> str:
    case_id = (await api.opened())["case_id"]
    await api.ok(case_id, "reject", "staff", payload("reject"))
    return case_id


async def return_shipment(api: Api, type: str = "return_refund") -> str:
    case_id = (await api.opened(type=type))["case_id"]
    await api.ok(case_id, "approve", "staff")
    return case_id


async def in_transit(api: Api, type: str = "return_refund") -> str:
    case_id = await return_shipment(api, type)
    await api.ok(case_id, "submit_return_shipment", "buyer", payload("submit_return_shipment"))
    return case_id


async def inspection(api: Api) -> str:
    case_id = await in_transit(api)
    await api.ok(case_id, "confirm_return_received", "staff")
    return case_id


async def failed_inspection(api: Api) -> str:
    case_id = await inspection(api)
    await api.ok(case_id, "record_inspection", "staff", {"passed": False, "responsibility": "no_fault"})
    return case_id


async def merchant_shipment(api: Api) -> str:
    case_id = await in_transit(api, "exchange")
    await api.ok(case_id, "record_inspection", "staff", payload("record_inspection"))
    return case_id


async def buyer_confirmation(api: Api) -> str:
    case_id = await merchant_shipment(api)
    await api.ok(case_id, "ship_item", "staff", payload("ship_item"))
    return case_id


async def arbitration(api: Api) -> str:
    case_id = await refusal(api)
    await api.ok(case_id, "escalate", "buyer")
    return case_id


async def needs_attention(api: Api) -> str:
    case_id = uid()
    api.providers.refuse_payouts_for.add(case_id)  # the payment provider refuses: a human must act
    await api.opened(case_id, type="refund_only", reason="changed_mind", order_kwargs={"shipped": False})
    await api.ok(case_id, "approve", "staff")
    await api.wait_for_state(case_id, "needs_attention")
    return case_id


SITUATION: dict[str, Callable[[Api], Awaitable[str]]] = {
    "approve": decision,
    "reject": decision,
    "offer_partial_refund": decision,
    "require_return": decision,
    "cancel": decision,
    "add_note": decision,
    "accept_offer": offer,
    "decline_offer": offer,
    "accept_return_to_buyer": failed_inspection,
    "revise": refusal,
    "escalate": refusal,
    "submit_return_shipment": return_shipment,
    "extend_deadline": return_shipment,  # the buyer's deadline: the merchant may extend it
    "confirm_return_received": in_transit,
    "record_inspection": inspection,
    "ship_item": merchant_shipment,
    "confirm_receipt": buyer_confirmation,
    "arbitrate": arbitration,
    "resume": needs_attention,
}


def expected_status(caller: str, action: str) -> int:
    if caller in NOT_THEIRS:
        return 404
    return 200 if PRINCIPALS[caller].role.value in EXPECTED_ROLES[action] else 403


async def test_every_caller_and_every_action(api):
    assert set(SITUATION) == set(EXPECTED_ROLES) == set(ACTIONS)
    cells = [(caller, action) for action in SITUATION for caller in CALLERS]
    limit = asyncio.Semaphore(20)

    async def fresh(situation: Callable[[Api], Awaitable[str]]) -> str:
        async with limit:
            return await situation(api)

    # Refusals change nothing, so one case per situation serves them all; each allowed call
    # gets a fresh case of its own.
    situations = list(dict.fromkeys(SITUATION.values()))
    allowed = [(c, a) for c, a in cells if expected_status(c, a) == 200]
    case_ids = await asyncio.gather(*(fresh(s) for s in situations), *(fresh(SITUATION[a]) for _, a in allowed))
    shared = dict(zip(situations, case_ids[: len(situations)], strict=True))
    own = dict(zip(allowed, case_ids[len(situations) :], strict=True))
    versions = {case_id: (await api.view(case_id))["version"] for case_id in shared.values()}

    async def attempt(caller: str, action: str) -> tuple[str, str, int, str]:
        case_id = own.get((caller, action)) or shared[SITUATION[action]]
        response = await api.act(case_id, action, caller, payload(action))
        return caller, action, response.status_code, response.text[:160]

    results = await asyncio.gather(*(attempt(c, a) for c, a in cells))
    wrong = [
        f"{caller:>12} {action:<24} got {status}, expected {expected_status(caller, action)}: {text}"
        for caller, action, status, text in results
        if status != expected_status(caller, action)
    ]
    assert not wrong, "\n" + "\n".join(wrong)
    for case_id, version in versions.items():  # no refusal left a trace
        assert (await api.view(case_id))["version"] == version
    assert len(results) == len(ACTIONS) * len(CALLERS)
