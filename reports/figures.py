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
    values.sort()
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
    opened = projector.query(f"SELECT type, reason FROM report_cases WHERE {where}", head + span)
    where, head = _scope(shop_id, "ended_at")
    ended = projector.query(
        "SELECT type, reason, currency, ended_at, outcome, close_reason, decided_by, automatic_kind, paid_refund,"
        " paid_reimbursement, paid_compensation, first_response_seconds, resolution_seconds, escalated,"
        f" arbitration, dispute_risk, reminders, reminders_acted FROM report_cases WHERE {where}", head + span)
    where, head = _scope(shop_id, "occurred_at")
    automatic_actions = {row[0]: row[1] for row in projector.query(
        f"SELECT deadline_kind, COUNT(*) FROM report_automatic WHERE {where} GROUP BY deadline_kind ORDER BY 1",
        head + span)}

    money: dict[str, dict[str, Amounts]] = defaultdict(lambda: {p: Amounts() for p in PAYERS})
    by_deadline: dict[str, Counter[str]] = defaultdict(Counter)
    weekly: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(PAYERS, 0))
    by_type, by_reason, by_outcome, by_decider = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    arbitration = Counter[str]()
    first, resolution = [], []
    dispute = escalated = reminders = acted = automatic = 0
    for row in ended:
        by_type[row["type"]] += 1
        by_reason[row["reason"]] += 1
        outcome = row["outcome"] if row["outcome"] != "closed" else f"closed:{row['close_reason']}"
        by_outcome[outcome] += 1
        by_decider[row["decided_by"]] += 1
        automatic += row["decided_by"] == "automatic"
        total = row["paid_refund"] + row["paid_reimbursement"] + row["paid_compensation"]
        if total and row["decided_by"] in PAYERS:
            amounts = money[row["currency"]][row["decided_by"]]
            amounts.refund += row["paid_refund"]
            amounts.reimbursement += row["paid_reimbursement"]
            amounts.compensation += row["paid_compensation"]
            amounts.total += total
            if row["decided_by"] == "automatic":
                by_deadline[row["currency"]][row["automatic_kind"]] += total
            weekly[(week_start(date.fromisoformat(row["ended_at"][:10])), row["currency"])][row["decided_by"]] += total
        if row["first_response_seconds"] is not None:
            first.append(row["first_response_seconds"])
        if row["resolution_seconds"] is not None:
            resolution.append(row["resolution_seconds"])
        dispute += row["dispute_risk"]
        escalated += row["escalated"]
        if row["arbitration"]:
            arbitration[row["arbitration"]] += 1
        reminders += row["reminders"]
        acted += row["reminders_acted"]

    currencies = sorted(money) or sorted({row["currency"] for row in ended if row["currency"]})
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
        opened=Counts(total=len(opened), by_type=_sorted(Counter(r["type"] for r in opened)),
                      by_reason=_sorted(Counter(r["reason"] for r in opened))),
        ended=Ended(total=len(ended), by_type=_sorted(by_type), by_reason=_sorted(by_reason),
                    by_outcome=_sorted(by_outcome), by_decider=_sorted(by_decider), automatic=automatic),
        automatic_actions=automatic_actions,
        money=[MoneyFigures(currency=c, automatic_by_deadline=_sorted(by_deadline[c]), **money[c])
               for c in sorted(money)],
        first_merchant_response=_times(first), resolution=_times(resolution),
        dispute_risk_flagged=dispute, escalated=escalated,
        escalation_rate=round(escalated / len(ended), 4) if ended else 0.0,
        arbitration=_sorted(arbitration), reminders_sent=reminders, reminders_acted_on=acted, weekly=weeks)


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return {key: counter[key] for key in sorted(counter)}
