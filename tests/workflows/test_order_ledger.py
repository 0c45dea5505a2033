"""Across all cases of one order: claimed quantity never exceeds what was bought, refunds never
exceed what was paid, the shipping fee is refunded once, and a retried open creates nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.models import CaseRequest, CaseState
from domain.policy import Policy
from runtime.cases import CaseNotFound, CaseRefused
from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER, dev_server_args, temporal_cli_path
from tests.support.cases import FactoryShopCases
from tests.support.factory import BUYER, OTHER_STAFF, STAFF, SYSTEM, request
from tests.support.providers import FakeProviders
from tests.support.timeline import run_to_end
from worker import build_worker
from workflows.ids import CaseRef, order_ledger_id
from workflows.messages import LedgerState, OpenCaseInput
from workflows.order_ledger import OrderLedgerWorkflow


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


def in_shop(req: CaseRequest, shop_id: str) -> CaseRequest:
    return req.model_copy(update={"order": req.order.model_copy(update={"shop_id": shop_id})})


async def test_two_shops_may_use_the_same_case_and_order_ids(engine):
    now = await engine.now()
    mine = request(now, "same-1", type="refund_only", reason="changed_mind", order_kwargs={"order_id": "o-same"})
    theirs = in_shop(mine, "shop-2")
    assert (await engine.service.open_case(mine, SYSTEM)).created
    assert (await engine.service.open_case(theirs, SYSTEM)).created  # not a conflict, not a retry
    await engine.service.command(CaseRef("shop-2", "same-1"), "approve", OTHER_STAFF)
    assert (await engine.service.view(CaseRef("shop-1", "same-1"))).state == CaseState.AWAITING_MERCHANT_DECISION
    assert (await engine.service.view(CaseRef("shop-2", "same-1"))).shop_id == "shop-2"
    # Each shop's order has its own ledger, holding its own claim only.
    for shop in ("shop-1", "shop-2"):
        ledger = await engine.service.ledger(shop, "o-same")
        assert (ledger.shop_id, [c.case_id for c in ledger.claims]) == (shop, ["same-1"])


async def test_ids_that_once_collided_open_separate_orders(engine):
    now = await engine.now()
    first = in_shop(request(now, "amb-1", type="refund_only", reason="changed_mind", order_kwargs={"order_id": "c"}),
                    "a-b")
    second = in_shop(request(now, "amb-2", type="refund_only", reason="changed_mind",
                             order_kwargs={"order_id": "b-c", "quantity": 5}), "a")
    assert (await engine.service.open_case(first, SYSTEM)).created
    assert (await engine.service.open_case(second, SYSTEM)).created  # a different order: its own quantity
    assert [c.case_id for c in (await engine.service.ledger("a-b", "c")).claims] == ["amb-1"]
    assert [c.case_id for c in (await engine.service.ledger("a", "b-c")).claims] == ["amb-2"]


async def test_the_ledger_refuses_a_case_of_another_shops_order(engine):
    now = await engine.now()
    handle = await engine.client.start_workflow(
        OrderLedgerWorkflow.run, LedgerState(shop_id="shop-1", order_id="o-mine"),
        id=order_ledger_id("shop-1", "o-mine"), task_queue=engine.task_queue,
    )
    for shop, order in (("shop-2", "o-mine"), ("shop-1", "o-other")):
        req = in_shop(request(now, "misrouted", order_kwargs={"order_id": order}), shop)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(OrderLedgerWorkflow.open_case,
                                        OpenCaseInput(request=req, policy=engine.service.policy, opened_by=SYSTEM))
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "Ineligible", cause
        assert "shop-1" in cause.message and "o-mine" in cause.message
    assert (await handle.query(OrderLedgerWorkflow.ledger)).claims == []
    for shop in ("shop-1", "shop-2"):
        with pytest.raises(CaseNotFound):
            await engine.service.view(CaseRef(shop, "misrouted"))


#: History events after which the server suggests continue-as-new in the test below (default 4096).
SHORT_HISTORY = 12


@pytest.fixture
async def short_history_server():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(), data_converter=DATA_CONVERTER, dev_server_log_level="error",
        dev_server_extra_args=dev_server_args([f"limit.historyCount.suggestContinueAsNew={SHORT_HISTORY}"]),
    )
    async with env:
        yield env


async def test_the_ledger_continues_as_new_only_after_every_open_has_answered(short_history_server):
    """Many opens of one order in flight while its ledger's history grows past the suggestion: every
    open gets its answer and its case, and the new run keeps every claim."""
    client, queue, cases = short_history_server.client, "ledger-can", 12
    settings = Settings(AFTERSALES_TASK_QUEUE=queue, PAYMENT_URL="http://fake/payments",
                        COURIER_URL="http://fake/courier", NOTIFY_URL="http://fake/notify")
    service = FactoryShopCases(client, queue, Policy())
    now = datetime.now(UTC)
    shared = {"order_id": "o-busy", "quantity": cases}
    requests = [request(now, f"busy-{i}", type="refund_only", reason="changed_mind", order_kwargs=shared)
                for i in range(cases)]
    async with FakeProviders().client() as http, build_worker(client, settings, http):
        results = await asyncio.gather(*(service.open_case(r, SYSTEM) for r in requests), return_exceptions=True)
        assert [r if isinstance(r, BaseException) else r.created for r in results] == [True] * cases
        ledger_id = order_ledger_id("shop-1", "o-busy")
        ledger = await service.ledger("shop-1", "o-busy")
        assert sorted(c.case_id for c in ledger.claims) == sorted(r.case_id for r in requests)
        for r in requests:
            assert (await service.view(r.case_id)).state == CaseState.AWAITING_MERCHANT_DECISION
        now_running = await client.get_workflow_handle(ledger_id).describe()
    info = now_running.raw_description.workflow_execution_info
    assert info.first_run_id != now_running.run_id, "the ledger never continued as new: the test proves nothing"


async def test_two_shops_cases_of_one_case_id_are_each_paid(engine):
    """The payment provider keeps one payout per idempotency key: a key made of the case id alone
    would pay the first shop's buyer and answer the second's payout with the first's."""
    now = await engine.now()
    mine = request(now, "twin", type="refund_only", reason="changed_mind", order_kwargs={"shipped": False})
    for shop, staff in (("shop-1", STAFF), ("shop-2", OTHER_STAFF)):
        await engine.service.open_case(in_shop(mine, shop), SYSTEM)
        await engine.service.command(CaseRef(shop, "twin"), "approve", staff)
    for shop in ("shop-1", "shop-2"):
        assert (await run_to_end(engine, CaseRef(shop, "twin"))).state == CaseState.REFUNDED
    paid = sorted((p["shop_id"], p["refund"]) for p in engine.providers.payouts.values() if p["case_id"] == "twin")
    assert paid == [("shop-1", 10_000), ("shop-2", 10_000)]
