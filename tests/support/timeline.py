"""Letting time pass in the time-skipping server, and reading what happened."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType

from domain.models import CaseView
from tests.support.cases import in_factory_shop
from workflows.ids import CaseRef


async def pass_time(engine, delta: timedelta) -> None:
    """Advance the test server's clock; every timer due meanwhile fires, in order."""
    await engine.env.sleep(delta)


async def run_to_end(engine, case_id: str | CaseRef, *, step: timedelta = timedelta(days=1),
                     limit: timedelta = timedelta(days=90)) -> CaseView:
    """Let days pass until the case workflow completes (follow-up included); its final view."""
    handle = engine.client.get_workflow_handle(in_factory_shop(case_id).workflow_id, result_type=CaseView)
    waited = timedelta(0)
    while waited <= limit:
        # (describe() cannot decode a Datetime search attribute from the test server)
        history = await handle.fetch_history()
        if history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            return await handle.result()
        await engine.env.sleep(step)
        waited += step
    raise AssertionError(f"case {case_id} still running after {limit}")


def actions(view: CaseView) -> list[str]:
    return [entry.action for entry in view.timeline]
