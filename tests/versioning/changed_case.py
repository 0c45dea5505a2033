"""Two test-only revisions of the ``Case`` workflow, each adding one step to the start of a case.

Both are registered under the same workflow type name as ``workflows.case.CaseWorkflow``
(``"Case"``), as a deployed change would be. ``@workflow.run`` must be defined on the workflow
class itself (the SDK refuses an inherited one), so each revision re-declares ``run`` and then
delegates to the original; updates, signals, queries and ``@workflow.init`` are inherited.

- ``PatchedCase``: the documented way. The new step (a one-second timer before the case's first
  notification) runs only ``if workflow.patched(EXTRA_STEP)``; replaying a history recorded
  before the change, ``patched`` answers ``False`` and the old command sequence is produced.
- ``UnguardedCase``: the same change without ``patched()``; old histories no longer replay.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import CaseView
    from workflows.case import CaseWorkflow
    from workflows.messages import CaseStart

#: The change id a real change would use in ``workflow.patched(...)``.
EXTRA_STEP = "extra-step"
EXTRA_STEP_WAIT = timedelta(seconds=1)


@workflow.defn(name="Case")
class PatchedCase(CaseWorkflow):
    """``CaseWorkflow`` plus a short settling timer at the start, behind ``workflow.patched``."""

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        if workflow.patched(EXTRA_STEP):
            await workflow.sleep(EXTRA_STEP_WAIT, summary="extra step (new code)")
        return await super().run(start)


@workflow.defn(name="Case")
class UnguardedCase(CaseWorkflow):
    """The same change, unguarded: a command sequence that running cases never produced."""

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        await workflow.sleep(EXTRA_STEP_WAIT, summary="extra step (new code)")
        return await super().run(start)
