"""Changing the case workflow while cases are in flight, the documented way (README: "Changing
workflow code while cases are in flight").

A revision of ``Case`` that adds a step at the start of every case:

- behind ``workflow.patched("extra-step")`` it still replays every committed history in
  ``tests/histories`` (recorded with the code before the change), so running cases survive a
  deploy;
- the same change without ``patched()`` fails to replay them with a nondeterminism error (the
  control: the committed histories do catch an unguarded change);
- a case started on the new code takes the new step, records the patch marker, and its history
  replays on the new code: the history one would record and commit next to the old ones.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, Worker
from temporalio.workflow import NondeterminismError

from activities.courier import CourierActivities
from activities.notifications import NotificationActivities
from activities.payments import PaymentActivities
from casefeed.recording import EventActivities
from casefeed.store import EventStore
from domain.policy import Policy
from runtime.temporal import DATA_CONVERTER
from tests.support.cases import FactoryShopCases
from tests.support.factory import BUYER, SHOP, SYSTEM, request
from tests.support.providers import FakeProviders
from tests.versioning.changed_case import EXTRA_STEP, PatchedCase, UnguardedCase
from workflows.ids import case_workflow_id
from workflows.order_ledger import OrderLedgerWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
CASE_HISTORIES = sorted(HISTORIES.rglob("case.*.json"))  # every generation of recorded histories
ALL_HISTORIES = sorted(HISTORIES.rglob("*.json"))  # the order ledger's too: it starts the case as a child


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def _replayer(case_workflow: type) -> Replayer:
    return Replayer(workflows=[case_workflow, OrderLedgerWorkflow], data_converter=DATA_CONVERTER)


def test_there_are_case_histories_recorded_before_the_change():
    assert len(CASE_HISTORIES) >= 5
    for path in CASE_HISTORIES:  # recorded before the change: no patch marker in them
        assert EXTRA_STEP not in path.read_text()


@pytest.mark.parametrize("path", ALL_HISTORIES, ids=[str(p.relative_to(HISTORIES)) for p in ALL_HISTORIES])
async def test_a_patched_change_replays_every_old_history(path: Path):
    result = await _replayer(PatchedCase).replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


@pytest.mark.parametrize("path", CASE_HISTORIES, ids=[str(p.relative_to(HISTORIES)) for p in CASE_HISTORIES])
async def test_the_same_change_unguarded_breaks_replay(path: Path):
    result = await _replayer(UnguardedCase).replay_workflow(_history(path), raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure
    assert "nondetermin" in str(result.replay_failure).lower()


async def test_a_case_started_on_the_new_code_takes_the_step_and_replays(env):
    providers = FakeProviders()
    task_queue = f"versioning-{uuid.uuid4().hex[:8]}"
    case_id = f"v-{uuid.uuid4().hex[:8]}"
    async with providers.client() as http:
        worker = Worker(
            env.client,
            task_queue=task_queue,
            workflows=[PatchedCase, OrderLedgerWorkflow],
            activities=[
                PaymentActivities(http, "http://fake/payments").pay_refund,
                NotificationActivities(http, "http://fake/notify").send_notification,
                CourierActivities(http, "http://fake/courier").lookup_parcel,
                EventActivities(EventStore(":memory:"), timedelta(days=3)).record_events,
            ],
        )
        async with worker:
            service = FactoryShopCases(env.client, task_queue, Policy())
            now = await env.get_current_time()
            await service.open_case(request(now, case_id, type="refund_only", reason="changed_mind"), SYSTEM)
            await service.command(case_id, "cancel", BUYER)
            handle = env.client.get_workflow_handle(case_workflow_id(SHOP, case_id))
            await env.sleep(timedelta(days=10))  # past the satisfaction follow-up: the case ends
            history = await handle.fetch_history()

    events = list(history.events)
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    markers = [e for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert len([m for m in markers if EXTRA_STEP in str(m.marker_recorded_event_attributes)]) == 1
    first_command = next(
        e
        for e in events
        if e.event_type in (EventType.EVENT_TYPE_TIMER_STARTED, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    )
    assert first_command.event_type == EventType.EVENT_TYPE_TIMER_STARTED  # the new step comes first

    result = await _replayer(PatchedCase).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
