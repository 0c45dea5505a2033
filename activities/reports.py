"""The weekly reports' activities: which shops had cases in a week, and each shop's report as a
notice (sent by ``send_notification``, the notices' own activity, so the channel and its
dedupe keys are the same as every other notice's)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from activities.contracts import Notification
from casefeed.store import ts
from domain.models import Role
from notices import Readers
from reports.figures import build
from reports.projector import Projector
from reports.text import notice


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReportPeriod(_Strict):
    start: datetime
    end: datetime


class ShopList(_Strict):
    shops: list[str]


class ShopReportRequest(_Strict):
    shop_id: str
    start: datetime
    end: datetime


NOTICE_KIND = "weekly_report"


def notice_key(shop_id: str, start: datetime) -> str:
    """One weekly notice per shop and week, however often the schedule (or a person) runs it."""
    return f"{shop_id}:weekly-report:{start.date().isoformat()}"


class ReportActivities:
    """``events_dsn``: the event store; the fact tables beside it are opened at first use."""

    def __init__(self, events_dsn: str, readers: Readers | None = None) -> None:
        self._events_dsn = events_dsn
        self._opened: Projector | None = None
        self._readers = readers or Readers()

    @property
    def _projector(self) -> Projector:
        if self._opened is None:
            self._opened = Projector(self._events_dsn)
        return self._opened

    def _shops(self, period: ReportPeriod) -> list[str]:
        self._projector.catch_up()
        span = (ts(period.start), ts(period.end))
        rows = self._projector.query(
            "SELECT shop_id FROM report_cases WHERE opened_at >= ? AND opened_at < ?"
            " UNION SELECT shop_id FROM report_cases WHERE ended_at >= ? AND ended_at < ? ORDER BY 1", span + span)
        return [row[0] for row in rows]

    @activity.defn(name="report_shops")
    async def report_shops(self, period: ReportPeriod) -> ShopList:
        """The shops with a case opened or ended in the period."""
        return ShopList(shops=await asyncio.to_thread(self._shops, period))

    @activity.defn(name="build_shop_report_notice")
    async def build_shop_report_notice(self, request: ShopReportRequest) -> Notification:
        """The shop's report for the period, as a notice to its supervisors, in their language (the
        shops file): a report is worded here, not from a notice template, so it travels as text."""
        report = await asyncio.to_thread(build, self._projector, request.shop_id, request.start, request.end)
        locale = self._readers.reader(Role.SUPERVISOR, request.shop_id).locale
        return Notification(
            dedupe_key=notice_key(request.shop_id, request.start),
            case_id=f"weekly-report-{request.start.date().isoformat()}", shop_id=request.shop_id,
            recipient_role=Role.SUPERVISOR, recipient_id=request.shop_id, kind=NOTICE_KIND,
            message=notice(report, locale), locale=locale)
