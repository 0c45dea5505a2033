"""Across all cases of one order: claimed quantity never exceeds what was bought, refunds never
exceed what was paid, the shipping fee is refunded once, and a retried open creates nothing."""

from __future__ import annotations

import asyncio

import pytest

from domain.models import CaseState
from runtime.cases import CaseRefused
from tests.support.factory import BUYER, STAFF, SYSTEM, request
from tests.support.timeline import run_to_end


async def test_two_cases_racing_for_the_same_quantity_one_wins(engine):
    now = await engine.now()
    shared = {"order_id": "race-1", "quantity": 2}
    first = request(now, "race-a", type="return_refund", quantity=2, order_kwargs=shared)
    second = request(now, "race-b", type="return_refund", quantity=1, order_kwargs=shared)
    results = await asyncio.gather(engine.service.open_case(first, SYSTEM), engine.service.open_case(second, SYSTEM),
                                   return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, CaseRefused)]
    assert len(won) == 1 and len(lost) == 1
    assert lost[0].kind == "Ineligible"
    assert "quantity" in lost[0].details["errors"][0]["field"]
    ledger = await engine.service.ledger("shop-1", "race-1")
    assert sum(sum(c.items.values()) for c in ledger.claims) <= 2


async def test_identical_retry_returns_the_same_case_and_a_different_body_conflicts(engine):
    now = await engine.now()
    req = request(now, "retry-1", type="refund_only", reason="changed_mind")
    assert (await engine.service.open_case(req, SYSTEM)).created
    again = await engine.service.open_case(req, SYSTEM)
    assert not again.created
    ledger = await engine.service.ledger("shop-1", req.order.order_id)
    assert len(ledger.claims) == 1

    changed = req.model_copy(update={"description": "something else"})
    with pytest.raises(CaseRefused) as conflict:
        await engine.service.open_case(changed, SYSTEM)
    assert conflict.value.kind == "CaseConflict"


async def test_case_id_reused_on_another_order_conflicts(engine):
    now = await engine.now()
    await engine.service.open_case(request(now, "dup-id", type="refund_only", reason="changed_mind"), SYSTEM)
    other = request(now, "dup-id", type="refund_only", reason="changed_mind", order_kwargs={"order_id": "other"})
    with pytest.raises(CaseRefused) as conflict:
        await engine.service.open_case(other, SYSTEM)
    assert conflict.value.kind == "CaseConflict"
    assert (await engine.service.ledger("shop-1", "other")).claims == []


async def test_shipping_fee_is_refunded_once_and_refunds_stay_within_paid(engine):
    now = await engine.now()
    shared = {"order_id": "split-1", "quantity": 2, "shipped": False}
    await engine.service.open_case(request(now, "split-a", type="refund_only", reason="changed_mind", quantity=1,
                                           order_kwargs=shared), SYSTEM)
    await engine.service.open_case(request(now, "split-b", type="refund_only", reason="changed_mind", quantity=1,
                                           order_kwargs=shared), SYSTEM)
    await engine.service.command("split-a", "approve", STAFF)
    await engine.service.command("split-b", "approve", STAFF)
    a = await run_to_end(engine, "split-a")
    b = await run_to_end(engine, "split-b")
    # The second case covers the rest of the order, so it alone carries the shipping fee.
    assert (a.refund.refund, b.refund.refund) == (10_000, 11_000)
    paid = sum(p["refund"] for p in engine.providers.payouts.values() if p["order_id"] == "split-1")
    assert paid == 21_000  # exactly what the buyer paid, never more
    with pytest.raises(CaseRefused) as nothing_left:
        await engine.service.open_case(request(now, "split-c", type="refund_only", reason="changed_mind",
                                               order_kwargs=shared), SYSTEM)
    assert nothing_left.value.kind == "Ineligible"


async def test_a_cancelled_case_releases_its_quantity(engine):
    now = await engine.now()
    shared = {"order_id": "release-1", "quantity": 1}
    await engine.service.open_case(request(now, "rel-a", order_kwargs=shared), SYSTEM)
    with pytest.raises(CaseRefused):
        await engine.service.open_case(request(now, "rel-b", order_kwargs=shared), SYSTEM)
    view = await engine.service.command("rel-a", "cancel", BUYER)
    assert view.state == CaseState.CLOSED
    # The ledger hears of the end through a signal; give it a moment.
    for _ in range(50):
        ledger = await engine.service.ledger("shop-1", "release-1")
        if all(c.settled for c in ledger.claims):
            break
        await asyncio.sleep(0.05)
    assert (await engine.service.open_case(request(now, "rel-b", order_kwargs=shared), SYSTEM)).created
