"""WeeklyReportsWorkflow: every shop's report of the last full week, sent to its supervisors.

Started by the Schedule ``aftersales-weekly-reports`` (Mondays 01:00 UTC; the worker creates it
at start, ``reports.schedule``), or by hand (``temporal schedule trigger --schedule-id
aftersales-weekly-reports``). The week is Monday 00:00 to Monday 00:00 UTC before the start
time (or ``week_end``). For each shop with a case opened or ended in the week: the activity
``build_shop_report_notice`` builds the report and words it, then ``send_notification`` (the
notices' activity) sends it, once per shop and week (the notice's dedupe key).

No signals, queries, updates or timers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities
    from activities.reports import ReportActivities, ReportPeriod, ShopReportRequest

WEEK = timedelta(days=7)


class WeeklyReportsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    week_end: datetime | None = None


class WeeklyReportsResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime
    shops: list[str]


def last_monday(at: datetime) -> datetime:
    """Monday 00:00 UTC at or before ``at``."""
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


@workflow.defn(name="WeeklyReports")
class WeeklyReportsWorkflow:
    @workflow.run
    async def run(self, request: WeeklyReportsInput) -> WeeklyReportsResult:
        end = last_monday(request.week_end or workflow.now())
        start = end - WEEK
        shops = await workflow.execute_activity_method(
            ReportActivities.report_shops, ReportPeriod(start=start, end=end),
            start_to_close_timeout=timedelta(minutes=5))
        for shop_id in shops.shops:
            notice = await workflow.execute_activity_method(
                ReportActivities.build_shop_report_notice, ShopReportRequest(shop_id=shop_id, start=start, end=end),
                start_to_close_timeout=timedelta(minutes=5))
            await workflow.execute_activity_method(
                NotificationActivities.send_notification, notice, start_to_close_timeout=timedelta(seconds=30))
        return WeeklyReportsResult(start=start, end=end, shops=shops.shops)
