"""An alarm's timer firing and a signal in one workflow task (found by the fault harness).

The worker is stopped while the courier-poll timer fires and a parcel scan arrives, so the first
workflow task the restarted worker gets holds both. The timer fired, so its alarm fires (the case
asks the courier), whichever of the two the SDK runs first; and the history replays.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Replayer
from temporalio.worker._workflow_instance import _WorkflowLogicFlag

from domain.models import CaseState, CaseView, ParcelStatus
from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER
from tests.support.cases import FactoryShopCases, in_factory_shop
from tests.support.factory import BUYER, STAFF, SYSTEM, request
from tests.support.providers import FakeProviders
from tests.support.timeline import actions
from worker import build_worker
from workflows.case import CaseWorkflow
from workflows.messages import ParcelEvent
from workflows.order_ledger import OrderLedgerWorkflow

HOUR = timedelta(hours=1)



def _commands_of_tasks_with_timer_and_signal(events) -> list[list[str]]:
    """For each workflow task that saw a timer fire and a signal come in since the task before:
    what it did (its timer and activity commands: activity type, or "timer")."""
    found: list[list[str]] = []
    timer = signal = False
    commands: list[str] | None = None
    for e in events:
        t = e.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            commands = [] if timer and signal else None
            if commands is not None:
                found.append(commands)
            timer = signal = False
        elif t == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            commands = None
        elif t == EventType.EVENT_TYPE_TIMER_FIRED:
            timer = True
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signal = True
        if commands is not None:
            if t == EventType.EVENT_TYPE_TIMER_STARTED:
                commands.append("timer")
            elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                commands.append(e.activity_task_scheduled_event_attributes.activity_type.name)
    return found


@pytest.mark.parametrize("single_batch", [False, True], ids=["legacy-order", "single-batch"])
async def test_a_poll_timer_and_a_parcel_signal_in_one_task_poll_and_replay(env, policy, single_batch):
    """Both of the SDK's orders: by default (temporalio 1.35) signals run, and the code they
    wake, before the task's timers are marked fired; with its single-batch workflow logic flag
    (recorded in the history, so the replay follows it) every job is applied first."""
    providers = FakeProviders()
    task_queue = "aftersales-race"
    settings = dict(AFTERSALES_TASK_QUEUE=task_queue, PAYMENT_URL="http://fake/payments",
                    COURIER_URL="http://fake/courier", NOTIFY_URL="http://fake/notify")
    service = FactoryShopCases(env.client, task_queue, policy)
    async with providers.client() as http:
        # No cache (no sticky queue): the restarted worker gets the next task at once.
        async with build_worker(env.client, Settings(**settings, AFTERSALES_MAX_CACHED_WORKFLOWS=0), http):
            now = await env.get_current_time()
            await service.open_case(request(now, "race-1"), SYSTEM)
            await service.command("race-1", "approve", STAFF)
            submitted = await env.get_current_time()
            await service.command("race-1", "submit_return_shipment", BUYER,
                                  {"carrier": "sf", "tracking_number": "RACE1"})
            await env.sleep(timedelta(minutes=1))  # notifications and the parcel claim done
        providers.parcels["RACE1"] = {"status": "delivered", "occurred_at": (now + 2 * HOUR).isoformat()}
        # Worker stopped: the first courier poll (12 h after submission) fires, then a scan comes.
        # (Time skipping stops at a timer that no worker answers, so the last seconds pass for real.)
        await env.sleep(submitted + 12 * HOUR - timedelta(seconds=2) - await env.get_current_time())
        handle = env.client.get_workflow_handle(in_factory_shop("race-1").workflow_id, result_type=CaseView)
        for _ in range(50):
            await asyncio.sleep(0.2)
            if EventType.EVENT_TYPE_TIMER_FIRED in [e.event_type async for e in handle.fetch_history_events()]:
                break
        else:
            raise AssertionError("the poll timer did not fire")
        await service.parcel_event("race-1", ParcelEvent(carrier="sf", tracking_number="RACE1",
                                                         status=ParcelStatus.IN_TRANSIT,
                                                         occurred_at=await env.get_current_time()))
        worker = build_worker(env.client, Settings(**settings), http)
        if single_batch:
            worker._set_default_workflow_logic_flag(_WorkflowLogicFlag.PROCESS_WORKFLOW_ACTIVATION_JOBS_AS_SINGLE_BATCH,
                                                    enabled=True)
        async with worker:
            await env.sleep(timedelta(seconds=5))
            view = await service.view("race-1")

    assert view.state == CaseState.AWAITING_INSPECTION, actions(view)
    assert "parcel_in_transit" in actions(view)
    delivered = next(e for e in view.timeline if e.action == "parcel_delivered")
    assert delivered.detail["source"] == "courier_poll"  # the poll alarm fired

    history = await handle.fetch_history()
    flags = {f for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
             for f in e.workflow_task_completed_event_attributes.sdk_metadata.lang_used_flags}
    assert (_WorkflowLogicFlag.PROCESS_WORKFLOW_ACTIVATION_JOBS_AS_SINGLE_BATCH in flags) == single_batch
    # The task that saw both asked the courier at once: the fired timer fired its alarm (no new
    # timer for the alarm that was already due).
    assert _commands_of_tasks_with_timer_and_signal(history.events) == [["lookup_parcel"]]
    replayer = Replayer(workflows=[CaseWorkflow, OrderLedgerWorkflow], data_converter=DATA_CONVERTER)
    await replayer.replay_workflow(history, raise_on_replay_failure=True)
