"""A shop's (or the whole platform's) report for a period, from the fact tables (``reports.projector``).

Which cases each figure counts:
- ``opened``: cases opened in the period;
- everything else (outcomes, money, times, escalation, arbitration, reminders, dispute risk):
  cases that *ended* in the period, so every figure of a case is final when it is counted;
- ``automatic_actions``: deadlines that ran out in the period (including the ones without an
  outcome, a platform decision's reminder), by deadline kind.

Periods are half-open, ``[from, to)``, in UTC; weeks start on Monday 00:00 UTC. Percentiles are
nearest-rank (the smallest value with at least p % of the values at or below it): each is a
time some case really took. Money is in minor units per currency, never mixed.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from casefeed.store import ts
from reports.projector import Projector

#: The longest period one report may cover.
MAX_PERIOD = timedelta(days=366)
DECIDERS = ("automatic", "staff", "buyer", "platform")
PAYERS = ("automatic", "staff", "platform")


class Amounts(BaseModel):
    refund: int = 0
    reimbursement: int = Field(0, description="return shipping reimbursed")
    compensation: int = Field(0, description="out-of-stock compensation")
    total: int = 0


class MoneyFigures(BaseModel):
    currency: str
    automatic: Amounts = Field(description="paid because a deadline ran out (nobody decided)")
    staff: Amounts = Field(description="paid on the merchant's decision (approval, inspection, an accepted offer)")
    platform: Amounts = Field(description="paid on the platform's arbitration")
    automatic_by_deadline: dict[str, int] = Field(description="automatic payouts' totals by the deadline that ran out")


class Times(BaseModel):
    cases: int = Field(description="cases with this time")
    p50_seconds: int | None
    p90_seconds: int | None


class Counts(BaseModel):
    total: int
    by_type: dict[str, int]
    by_reason: dict[str, int]


class Ended(Counts):
    by_outcome: dict[str, int] = Field(description="refunded, completed, or closed:<close_reason>")
    by_decider: dict[str, int] = Field(description="who decided the outcome: automatic, staff, buyer, platform")
    automatic: int = Field(description="cases whose outcome a deadline decided")


class Week(BaseModel):
    week_start: date
    currency: str
    automatic: int = Field(description="paid because a deadline ran out, minor units")
    staff: int
    platform: int


class Report(BaseModel):
    shop_id: str | None = Field(description="null: every shop (platform-wide)")
    period_from: datetime
    period_to: datetime
    events_seq: int = Field(description="the last event the figures include (the event feed's cursor)")
    opened: Counts
    ended: Ended
    automatic_actions: dict[str, int] = Field(description="deadlines that ran out in the period, by kind")
    money: list[MoneyFigures]
    first_merchant_response: Times = Field(description="from opening to the first staff or supervisor action")
    resolution: Times = Field(description="from opening to the end")
    dispute_risk_flagged: int
    escalated: int
    escalation_rate: float = Field(description="escalated / ended, 4 decimals")
    arbitration: dict[str, int] = Field(description="refund_full, refund_partial, deny")
    reminders_sent: int
    reminders_acted_on: int = Field(description="reminders after which the reminded party acted before the deadline")
    weekly: list[Week]


def percentile(sorted_values: list[int], p: int) -> int | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    return sorted_values[max(math.ceil(p / 100 * len(sorted_values)) - 1, 0)]


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _times(values: list[int]) -> Times:
    return Times(cases=len(values), p50_seconds=percentile(values, 50), p90_seconds=percentile(values, 90))


def _scope(shop_id: str | None, column: str) -> tuple[str, tuple[Any, ...]]:
    if shop_id is None:
        return f"{column} >= ? AND {column} < ?", ()
    return f"shop_id = ? AND {column} >= ? AND {column} < ?", (shop_id,)


def build(projector: Projector, shop_id: str | None, start: datetime, end: datetime, *,
          catch_up: bool = True) -> Report:
    """The report of ``shop_id`` (None: every shop) for ``[start, end)``, caught up first."""
    if catch_up:
        projector.catch_up()
    span = (ts(start), ts(end))
    where, head = _scope(shop_id, "opened_at")
    opened = projector.query(f"SELECT type, reason, COUNT(*) FROM report_cases WHERE {where} GROUP BY 1, 2",
                             head + span)
    where, head = _scope(shop_id, "ended_at")
    # One pass over the period's ended cases in SQLite, grouped by everything a figure splits on
    # (a few hundred groups however many cases), then summed up here.
    groups = projector.query(
        "SELECT type, reason, outcome, close_reason, decided_by, automatic_kind, currency, arbitration,"
        " substr(ended_at, 1, 10), COUNT(*), SUM(paid_refund), SUM(paid_reimbursement), SUM(paid_compensation),"
        f" SUM(dispute_risk), SUM(escalated), SUM(reminders), SUM(reminders_acted) FROM report_cases WHERE {where}"
        " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9", head + span)
    first = [row[0] for row in projector.query(
        f"SELECT first_response_seconds FROM report_cases WHERE {where} AND first_response_seconds IS NOT NULL"
        " ORDER BY 1", head + span)]
    resolution = [row[0] for row in projector.query(
        f"SELECT resolution_seconds FROM report_cases WHERE {where} AND resolution_seconds IS NOT NULL ORDER BY 1",
        head + span)]
    where, head = _scope(shop_id, "occurred_at")
    automatic_actions = {row[0]: row[1] for row in projector.query(
        f"SELECT deadline_kind, COUNT(*) FROM report_automatic WHERE {where} GROUP BY deadline_kind ORDER BY 1",
        head + span)}

    money: dict[str, dict[str, Amounts]] = defaultdict(lambda: {p: Amounts() for p in PAYERS})
    by_deadline: dict[str, Counter[str]] = defaultdict(Counter)
    weekly: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(PAYERS, 0))
    by_type, by_reason, by_outcome, by_decider = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    arbitration = Counter[str]()
    ended = dispute = escalated = reminders = acted = automatic = 0
    currencies_seen: set[str] = set()
    for (kind, reason, outcome, close_reason, decided_by, automatic_kind, currency, arbitrated, day, count,
         refund, reimbursement, compensation, flagged, escalations, sent, heeded) in groups:
        ended += count
        currencies_seen.add(currency)
        by_type[kind] += count
        by_reason[reason] += count
        by_outcome[outcome if outcome != "closed" else f"closed:{close_reason}"] += count
        by_decider[decided_by] += count
        automatic += count if decided_by == "automatic" else 0
        total = refund + reimbursement + compensation
        if total and decided_by in PAYERS:
            amounts = money[currency][decided_by]
            amounts.refund += refund
            amounts.reimbursement += reimbursement
            amounts.compensation += compensation
            amounts.total += total
            if decided_by == "automatic":
                by_deadline[currency][automatic_kind] += total
            weekly[(week_start(date.fromisoformat(day)), currency)][decided_by] += total
        dispute += flagged
        escalated += escalations
        if arbitrated:
            arbitration[arbitrated] += count
        reminders += sent
        acted += heeded

    currencies = sorted(money) or sorted(c for c in currencies_seen if c)
    weeks: list[Week] = []
    if currencies:
        monday = week_start(start.astimezone(UTC).date())
        while datetime.combine(monday, datetime.min.time(), UTC) < end:
            for currency in currencies:
                paid = weekly.get((monday, currency), dict.fromkeys(PAYERS, 0))
                weeks.append(Week(week_start=monday, currency=currency, **paid))
            monday += timedelta(days=7)
    return Report(
        shop_id=shop_id, period_from=start, period_to=end, events_seq=projector.cursor,
        opened=Counts(total=sum(r[2] for r in opened), by_type=_sum(opened, 0), by_reason=_sum(opened, 1)),
        ended=Ended(total=ended, by_type=_sorted(by_type), by_reason=_sorted(by_reason),
                    by_outcome=_sorted(by_outcome), by_decider=_sorted(by_decider), automatic=automatic),
        automatic_actions=automatic_actions,
        money=[MoneyFigures(currency=c, automatic_by_deadline=_sorted(by_deadline[c]), **money[c])
               for c in sorted(money)],
        first_merchant_response=_times(first), resolution=_times(resolution),
        dispute_risk_flagged=dispute, escalated=escalated,
        escalation_rate=round(escalated / ended, 4) if ended else 0.0,
        arbitration=_sorted(arbitration), reminders_sent=reminders, reminders_acted_on=acted, weekly=weeks)


def _sum(rows: list[Any], column: int) -> dict[str, int]:
    counts = Counter[str]()
    for row in rows:
        counts[row[column]] += row[-1]
    return _sorted(counts)


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return {key: counter[key] for key in sorted(counter)}
