"""The parcel workflow on the time-skipping server: scans wait for a claim; unclaimed ones expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.parcels import deliver_scan
from domain.models import ParcelStatus
from workflows.ids import parcel_workflow_id
from workflows.messages import ParcelEvent
from workflows.parcel import ParcelState, ParcelWorkflow


async def test_an_unclaimed_parcel_expires_after_its_period(engine):
    event = ParcelEvent(carrier="sf", tracking_number="SF-NOBODY", status=ParcelStatus.DELIVERED,
                        occurred_at=datetime.now(UTC))
    await deliver_scan(engine.client, engine.task_queue, timedelta(days=30), event)
    await deliver_scan(engine.client, engine.task_queue, timedelta(days=30), event)  # a retried push: one scan
    handle = engine.client.get_workflow_handle(parcel_workflow_id("sf", "SF-NOBODY"), result_type=ParcelState)
    state = await handle.query(ParcelWorkflow.state)
    assert len(state.scans) == 1 and not state.expired
    await engine.env.sleep(timedelta(days=31))
    final = await handle.result()
    assert final.expired and final.claimants == []


def test_parcel_ids_are_unambiguous():
    assert parcel_workflow_id("a:b", "c") != parcel_workflow_id("a", "b:c")
