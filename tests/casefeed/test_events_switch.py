"""The events switch (``AFTERSALES_EVENTS``): a case opened with events off makes no
``record_events`` call at all, and one opened with events on records every change; the setting
reaches the workflow through the case's start input, not the worker's environment."""

from __future__ import annotations

import os
import uuid

from temporalio.api.enums.v1 import EventType

from casefeed.store import EventStore
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


async def markers(engine, case_id: str) -> int:
    history = await engine.client.get_workflow_handle(in_factory_shop(case_id).workflow_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED)


async def _run_refund(engine, service: FactoryShopCases) -> str:
    case_id = f"sw-{uuid.uuid4().hex[:8]}"
    now = await engine.now()
    await service.open_case(request(now, case_id, type="refund_only", reason="changed_mind",
                                    order_kwargs={"shipped": False}), SYSTEM)
    await run_to_end(engine, case_id)  # reminders, the automatic approval, the payout, the follow-up
    return case_id


async def test_a_case_opened_with_events_off_never_records_and_one_with_events_on_does(engine):
    off = FactoryShopCases(engine.client, engine.task_queue, engine.service.policy, events=False)
    quiet = await _run_refund(engine, off)
    assert recorded(quiet) == []
    assert await markers(engine, quiet) == 0  # no local activity: record_events was never called
    assert any(p["case_id"] == quiet for p in engine.providers.payouts.values())  # it paid out as ever

    loud = await _run_refund(engine, engine.service)  # the default: events on
    types = recorded(loud)
    assert types[0] == "case.opened" and types[-1] == "case.ended" and "case.refund_paid" in types
    assert await markers(engine, loud) >= 1


def test_the_setting_reads_on_and_off_and_defaults_to_on(monkeypatch):
    monkeypatch.delenv("AFTERSALES_EVENTS", raising=False)
    assert Settings().events is True
    monkeypatch.setenv("AFTERSALES_EVENTS", "off")
    assert Settings().events is False
    monkeypatch.setenv("AFTERSALES_EVENTS", "on")
    assert Settings().events is True
