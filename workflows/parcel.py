"""ParcelWorkflow: one small workflow per parcel (id ``parcel:{carrier}:{tracking_number}``), so a
courier event is never lost because no case has claimed its tracking number yet.

Started with signal-with-start by whichever comes first: the courier webhook (signal ``scanned``)
or the case that learns the tracking number (signal ``claim``, through the ``claim_parcel``
activity). It keeps the scans (one per status: at most four) and forwards each to every case that
claimed the parcel, in the order they arrived; a case drops a scan it has already seen.

Signals:
    scanned(ParcelEvent): a courier scan.
    claim(ParcelClaim): a case's workflow id; it gets every scan so far and every later one.
Query:
    state() -> ParcelState
Timer:
    idle for ``keep_for`` (policy, default 30 days): the parcel's workflow ends; scans nobody claimed
    expire with it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.messages import ParcelEvent


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParcelStart(_Strict):
    carrier: str
    tracking_number: str
    keep_for: timedelta = Field(description="how long the parcel waits, idle, for a claim or a scan")


class ParcelClaim(_Strict):
    case_workflow_id: str


class ParcelState(_Strict):
    scans: list[ParcelEvent]
    claimants: list[str]
    forwarded: dict[str, int]
    expired: bool = False


@workflow.defn(name="Parcel")
class ParcelWorkflow:
    @workflow.init
    def __init__(self, start: ParcelStart) -> None:
        self._state = ParcelState(scans=[], claimants=[], forwarded={})

    @workflow.run
    async def run(self, start: ParcelStart) -> ParcelState:
        while True:
            try:
                await workflow.wait_condition(self._owed, timeout=start.keep_for,
                                              timeout_summary="parcel idle: expire")
            except TimeoutError:
                break
            await self._forward()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._owed():  # a claim or scan arrived at the very end
            await self._forward()
        self._state.expired = True
        return self._state

    def _owed(self) -> bool:
        s = self._state
        return any(s.forwarded.get(c, 0) < len(s.scans) for c in s.claimants)

    async def _forward(self) -> None:
        s = self._state
        for claimant in list(s.claimants):
            handle = workflow.get_external_workflow_handle(claimant)
            while s.forwarded.get(claimant, 0) < len(s.scans):
                scan = s.scans[s.forwarded.get(claimant, 0)]
                try:
                    await handle.signal("parcel_event", scan)
                except Exception as err:  # noqa: BLE001 - the case ended (or never was): stop telling it
                    workflow.logger.info("parcel %s: case %s no longer takes scans (%s)", scan.tracking_number,
                                         claimant, err)
                    s.claimants.remove(claimant)
                    break
                s.forwarded[claimant] = s.forwarded.get(claimant, 0) + 1

    @workflow.signal
    def scanned(self, event: ParcelEvent) -> None:
        if all(scan.status != event.status for scan in self._state.scans):
            self._state.scans.append(event)

    @workflow.signal
    def claim(self, claim: ParcelClaim) -> None:
        if claim.case_workflow_id not in self._state.claimants:
            self._state.claimants.append(claim.case_workflow_id)

    @workflow.query
    def state(self) -> ParcelState:
        return self._state
