"""``python -m bench report``: how long a shop's monthly report takes over 10,000 and 100,000
ended cases, from nothing (the projector folds every event) and incrementally (1 % more cases).

The events are synthetic: written straight into an event store file with the schema, columns and
``data`` the case workflow's ``record_events`` writes (``casefeed.events.derive``), in six
scenarios of the real lifecycle (staff approval, an out-of-stock timeout with compensation, a
return the merchant never inspects, a cancellation, an escalation to partial arbitration, a
return the merchant never approves and the buyer never ships). Running 100,000 cases through
Temporal would take hours on this machine and measure the workflows, not the report.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from casefeed.store import EventStore, ts
from reports.figures import build
from reports.projector import Projector

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
SCENARIOS = ("approved", "oos_timeout", "inspection_timeout", "cancelled", "arbitrated", "buyer_timeout")
WEIGHTS = (30, 20, 15, 15, 10, 10)


def _case_events(rng: random.Random, case_id: str, opened: datetime,
                 weights: tuple[int, ...] = WEIGHTS) -> Iterator[tuple[str, timedelta, dict[str, Any]]]:
    """(type, time after opening, data) of one synthetic case."""
    scenario = rng.choices(SCENARIOS, weights)[0]
    price = rng.randrange(1_000, 50_000)
    kind = {"approved": "refund_only", "oos_timeout": "refund_only", "cancelled": "refund_only",
            "arbitrated": "refund_only"}.get(scenario, "return_refund")
    reason = {"oos_timeout": "out_of_stock", "inspection_timeout": "quality_issue"}.get(scenario, "changed_mind")
    yield "case.opened", timedelta(0), {"type": kind, "reason": reason, "currency": "CNY",
                                        "state": "awaiting_merchant_decision", "opened_at": opened.isoformat()}

    def moved(source: str, target: str, by: str, action: str, **more: Any) -> dict[str, Any]:
        return {"from": source, "to": target, "by": by, "action": action, **more}

    def paid(at: timedelta, by: str, action: str, compensation: int = 0, reimbursement: int = 0,
             source: str = "awaiting_merchant_decision") -> Iterator[tuple[str, timedelta, dict[str, Any]]]:
        lines = [{"kind": "items", "amount": price}]
        if compensation:
            lines.append({"kind": "out_of_stock_compensation", "amount": compensation})
        if reimbursement:
            lines.append({"kind": "return_shipping", "amount": reimbursement})
        yield "case.state_changed", at, moved(source, "refunding", by, action)
        yield "case.refund_paid", at, {"amount": price + compensation + reimbursement, "refund": price,
                                       "reimbursement": compensation + reimbursement, "currency": "CNY",
                                       "lines": lines}
        yield "case.state_changed", at, moved("refunding", "refunded", "system", "refund_paid")
        yield "case.ended", at, {"outcome": "refunded", "close_reason": None, "refunded": price}

    def reminders(deadline: timedelta, kind: str) -> Iterator[tuple[str, timedelta, dict[str, Any]]]:
        for to, before in (("shop", DAY), ("supervisor", 12 * HOUR), ("shop", 2 * HOUR)):
            yield "case.reminder_sent", deadline - before, {"to": to, "deadline": kind}

    if scenario == "approved":
        yield from paid(rng.randrange(1, 48) * HOUR, "staff", "approve")
    elif scenario == "oos_timeout":
        yield from reminders(72 * HOUR, "merchant_decision")
        yield "case.automatic_action", 72 * HOUR, {"deadline": "merchant_decision"}
        yield from paid(72 * HOUR, "system", "deadline_expired", compensation=price * 3 // 10)
    elif scenario == "inspection_timeout":
        yield "case.state_changed", 2 * HOUR, moved("awaiting_merchant_decision", "awaiting_return_shipment",
                                                    "staff", "approve")
        yield "case.state_changed", DAY, moved("awaiting_return_shipment", "return_in_transit", "buyer",
                                               "submit_return_shipment")
        yield from reminders(11 * DAY, "merchant_inspection")
        yield "case.dispute_risk_flagged", 5 * DAY, {"open_for": "5d"}
        yield "case.automatic_action", 11 * DAY, {"deadline": "merchant_inspection"}
        yield from paid(11 * DAY, "system", "deadline_expired", reimbursement=1_200, source="return_in_transit")
    elif scenario == "cancelled":
        yield "case.state_changed", 3 * HOUR, moved("awaiting_merchant_decision", "closed", "buyer", "cancel")
        yield "case.ended", 3 * HOUR, {"outcome": "closed", "close_reason": "cancelled_by_buyer", "refunded": 0}
    elif scenario == "arbitrated":
        yield "case.state_changed", 5 * HOUR, moved("awaiting_merchant_decision", "awaiting_buyer_response",
                                                    "staff", "reject")
        yield "case.state_changed", DAY, moved("awaiting_buyer_response", "in_arbitration", "buyer", "escalate")
        yield "case.state_changed", 2 * DAY, moved("in_arbitration", "refunding", "platform", "arbitrate",
                                                   arbitration="refund_partial")
        price //= 2
        lines = [{"kind": "agreed_adjustment", "amount": price}]
        yield "case.refund_paid", 2 * DAY, {"amount": price, "refund": price, "reimbursement": 0, "lines": lines}
        yield "case.state_changed", 2 * DAY, moved("refunding", "refunded", "system", "refund_paid")
        yield "case.ended", 2 * DAY, {"outcome": "refunded", "close_reason": None, "refunded": price}
    else:  # buyer_timeout
        yield from reminders(5 * DAY, "merchant_decision")
        yield "case.automatic_action", 5 * DAY, {"deadline": "merchant_decision"}
        yield "case.state_changed", 5 * DAY, moved("awaiting_merchant_decision", "awaiting_return_shipment",
                                                   "system", "deadline_expired")
        yield "case.dispute_risk_flagged", 5 * DAY, {"open_for": "5d"}
        yield "case.reminder_sent", 11 * DAY, {"to": "buyer", "deadline": "buyer_return_shipment"}
        yield "case.automatic_action", 12 * DAY, {"deadline": "buyer_return_shipment"}
        yield "case.state_changed", 12 * DAY, moved("awaiting_return_shipment", "closed", "system",
                                                    "deadline_expired")
        yield "case.ended", 12 * DAY, {"outcome": "closed", "close_reason": "buyer_timeout", "refunded": 0}


def write_cases(dsn: str, shop_id: str, count: int, first_opened: datetime, span: timedelta, *,
                seed: int = 7, prefix: str = "c", weights: tuple[int, ...] = WEIGHTS) -> int:
    """Write ``count`` synthetic ended cases of ``shop_id``, opened evenly over ``span``; returns the events written."""
    EventStore(dsn).close()  # the schema
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    for n in range(count):
        case_id = f"{prefix}{n}"
        opened = first_opened + span * n / max(count, 1)
        version, step = 0, None
        events = sorted(_case_events(rng, case_id, opened, weights), key=lambda event: event[1])
        for sequence, (kind, after, data) in enumerate(events, start=1):
            if after != step:  # the events of one step (one time here) describe one case version
                version, step = version + 1, after
            at = opened + after
            body = {"id": f"evt_{shop_id}_{case_id}_{sequence}", "type": kind, "case_id": case_id,
                    "shop_id": shop_id, "version": version, "sequence": sequence, "occurred_at": at.isoformat(),
                    "data": data}
            rows.append((body["id"], f"case:{shop_id}:{case_id}", sequence, case_id, shop_id, version, kind, ts(at),
                         json.dumps(body)))
    db = sqlite3.connect(dsn.removeprefix("sqlite:///"), isolation_level=None)
    db.execute("BEGIN")
    db.executemany("INSERT INTO events (id, case_key, case_sequence, case_id, shop_id, version, type, occurred_at,"
                   " body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")
    db.close()
    return len(rows)


@dataclass
class Run:
    cases: int
    events: int
    first: float
    incremental: float
    added_events: int
    warm: float
    facts_mb: float


def measure(cases: int, folder: Path) -> Run:
    dsn = f"sqlite:///{folder}/events-{cases}.sqlite3"
    month = datetime(2026, 11, 1, tzinfo=UTC)
    end = month + 30 * DAY
    # opened in the first 18 days of November: the longest scenario takes 12 days, so all end in it
    events = write_cases(dsn, "shop-bench", cases, month, 18 * DAY)
    projector = Projector(dsn)
    try:
        started = time.perf_counter()
        build(projector, "shop-bench", month, end)
        first = time.perf_counter() - started
        added = write_cases(dsn, "shop-bench", cases // 100, month + 2 * DAY, 14 * DAY, seed=8, prefix="more")
        started = time.perf_counter()
        build(projector, "shop-bench", month, end)
        incremental = time.perf_counter() - started
        started = time.perf_counter()
        report = build(projector, "shop-bench", month, end)
        warm = time.perf_counter() - started
        assert report.ended.total == cases + cases // 100, report.ended.total
    finally:
        projector.close()
    size = Path(f"{folder}/reports.sqlite3").stat().st_size / 2**20
    return Run(cases, events, first, incremental, added, warm, size)


def run(sizes: list[int], repeats: int, say: Any) -> dict[str, Any]:
    say(f"report: a shop's monthly report over N ended cases (synthetic events; median of {repeats} runs, range)")
    say(f"  {'cases':>8}{'events':>10}{'first build s':>20}{'+1% cases s':>18}{'no new events s':>20}{'facts MiB':>11}")
    out: dict[str, Any] = {}
    for size in sizes:
        runs = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
                runs.append(measure(size, Path(folder)))

        def cell(values: list[float]) -> str:
            return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

        r = runs[0]
        say(f"  {size:>8}{r.events:>10}{cell([x.first for x in runs]):>20}{cell([x.incremental for x in runs]):>18}"
            f"{cell([x.warm for x in runs]):>20}{r.facts_mb:>11.1f}")
        out[str(size)] = {"events": r.events, "first_s": [x.first for x in runs],
                          "incremental_s": [x.incremental for x in runs], "added_events": r.added_events,
                          "warm_s": [x.warm for x in runs], "facts_mib": r.facts_mb}
    if len(sizes) >= 2:
        a, b = sizes[0], sizes[-1]
        grow = statistics.median(out[str(b)]["first_s"]) / statistics.median(out[str(a)]["first_s"])
        say(f"  first build grows {grow:.1f}x for {b // a}x the cases")
    return out


def example_charts(folder: Path) -> list[Path]:
    """The README's example charts: a shop over eight weeks in which it lets fewer deadlines run
    out each week (synthetic events, as above), in English."""
    from reports import charts

    with tempfile.TemporaryDirectory(prefix="report-example-") as work:
        dsn = f"sqlite:///{work}/events.sqlite3"
        first = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
        for week in range(8):
            missed = max(30 - 4 * week, 4)
            write_cases(dsn, "shop-1", 120, first + week * 7 * DAY, 5 * DAY, seed=week, prefix=f"w{week}-",
                        weights=(30 + (30 - missed), missed, missed // 2, 15, 10, missed // 3))
        projector = Projector(dsn)
        try:
            report = build(projector, "shop-1", first, first + 8 * 7 * DAY)
        finally:
            projector.close()
    written = []
    for name, svg in (("report-weekly.svg", charts.weekly(report, "en")),
                      ("report-deadlines.svg", charts.by_deadline(report, "en"))):
        path = folder / name
        path.write_text(svg + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m bench.report docs/
    import sys

    for path in example_charts(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(path)
