"""The Schedule that runs ``WeeklyReportsWorkflow`` every Monday at 01:00 UTC.

``ensure_weekly_schedule`` creates it if it does not exist and leaves an existing one alone
(an operator may have paused it or changed its time), so every worker may call it at start."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from workflows.weekly_report import WeeklyReportsInput, WeeklyReportsWorkflow

SCHEDULE_ID = "aftersales-weekly-reports"
WORKFLOW_ID = "aftersales-weekly-reports"
CRON = "0 1 * * 1"  # Mondays 01:00 UTC: the week before has ended everywhere from UTC-1 eastwards


async def ensure_weekly_schedule(client: Client, task_queue: str) -> bool:
    """Create the schedule; False when it already existed (nothing changed)."""
    try:
        await client.create_schedule(SCHEDULE_ID, Schedule(
            action=ScheduleActionStartWorkflow(WeeklyReportsWorkflow.run, WeeklyReportsInput(), id=WORKFLOW_ID,
                                               task_queue=task_queue),
            spec=ScheduleSpec(cron_expressions=[CRON]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)))
    except ScheduleAlreadyRunningError:
        return False
    return True
