"""The events switch (``AFTERSALES_EVENTS``): a case opened with events off makes no event, but
still records its view at each change (what the API reads), and one opened with events on records
every change as events too; the setting reaches the workflow through the case's start input, not
the worker's environment."""

from __future__ import annotations

import os
import uuid

from temporalio.api.enums.v1 import EventType

from casefeed.store import EventStore
from domain.models import CaseView
from runtime.settings import Settings
from tests.support.cases import FactoryShopCases, in_factory_shop
from tests.support.factory import SYSTEM, request
from tests.support.timeline import run_to_end


def recorded(case_id: str) -> list[str]:
    store = EventStore(os.environ["AFTERSALES_EVENTS_DSN"])
    try:
        return [e.type.value for _, e in store.events_after(0, 1000, case_id=case_id)]
    finally:
        store.close()


def stored_view(case_id: str) -> CaseView | None:
    store = EventStore(os.environ["AFTERSALES_EVENTS_DSN"])
    try:
        body = store.case_view(in_factory_shop(case_id).workflow_id)
    finally:
        store.close()
    return CaseView.model_validate_json(body) if body else None


async def recordings(engine, case_id: str) -> int:
    """record_events calls: local-activity markers (the patch marker is a marker too)."""
    history = await engine.client.get_workflow_handle(in_factory_shop(case_id).workflow_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
               and e.marker_recorded_event_attributes.marker_name == "core_local_activity")


async def _run_refund(engine, service: FactoryShopCases) -> str:
    case_id = f"sw-{uuid.uuid4().hex[:8]}"
    now = await engine.now()
    await service.open_case(request(now, case_id, type="refund_only", reason="changed_mind",
                                    order_kwargs={"shipped": False}), SYSTEM)
    await run_to_end(engine, case_id)  # reminders, the automatic approval, the payout, the follow-up
    return case_id


async def test_a_case_opened_with_events_off_makes_no_event_but_keeps_its_view_and_one_with_events_on_does(engine):
    off = FactoryShopCases(engine.client, engine.task_queue, engine.service.policy, events=False)
    quiet = await _run_refund(engine, off)
    assert recorded(quiet) == []
    assert any(p["case_id"] == quiet for p in engine.providers.payouts.values())  # it paid out as ever
    # Its view is recorded all the same, as of its end: what the API answers for it.
    final = await engine.client.get_workflow_handle(in_factory_shop(quiet).workflow_id, result_type=CaseView).result()
    stored = stored_view(quiet)
    assert stored is not None
    assert stored == final
    assert final.state == "refunded"
    quiet_calls = await recordings(engine, quiet)
    assert quiet_calls >= 2

    loud = await _run_refund(engine, engine.service)  # the default: events on
    types = recorded(loud)
    assert types[0] == "case.opened" and types[-1] == "case.ended" and "case.refund_paid" in types
    # The views ride in the events' calls: the same case makes no more calls with events on.
    assert await recordings(engine, loud) == quiet_calls


def test_the_setting_reads_on_and_off_and_defaults_to_on(monkeypatch):
    monkeypatch.delenv("AFTERSALES_EVENTS", raising=False)
    assert Settings().events is True
    monkeypatch.setenv("AFTERSALES_EVENTS", "off")
    assert Settings().events is False
    monkeypatch.setenv("AFTERSALES_EVENTS", "on")
    assert Settings().events is True
