"""Claiming a parcel for a case: signal-with-start of the parcel's workflow (``workflows.parcel``),
so scans that arrived before the case knew its tracking number reach it now."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from temporalio import activity
from temporalio.client import Client

from workflows.ids import parcel_workflow_id
from workflows.messages import ParcelEvent
from workflows.parcel import ParcelClaim, ParcelStart, ParcelWorkflow


class ParcelClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: str
    tracking_number: str
    case_workflow_id: str


class ParcelActivities:
    def __init__(self, client: Client, task_queue: str, keep_for: timedelta) -> None:
        self._client = client
        self._task_queue = task_queue
        self._keep_for = keep_for

    @activity.defn(name="claim_parcel")
    async def claim_parcel(self, request: ParcelClaimRequest) -> None:
        await self._client.start_workflow(
            ParcelWorkflow.run, ParcelStart(carrier=request.carrier, tracking_number=request.tracking_number,
                                            keep_for=self._keep_for),
            id=parcel_workflow_id(request.carrier, request.tracking_number), task_queue=self._task_queue,
            start_signal="claim", start_signal_args=[ParcelClaim(case_workflow_id=request.case_workflow_id)])


async def deliver_scan(client: Client, task_queue: str, keep_for: timedelta, event: ParcelEvent) -> None:
    """Hand a courier scan to its parcel's workflow (started if need be): durable once this returns."""
    await client.start_workflow(
        ParcelWorkflow.run, ParcelStart(carrier=event.carrier, tracking_number=event.tracking_number, keep_for=keep_for),
        id=parcel_workflow_id(event.carrier, event.tracking_number), task_queue=task_queue,
        start_signal="scanned", start_signal_args=[event])
