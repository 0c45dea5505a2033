"""The workbench's queues, read from the ``cases`` read model (``casefeed.store``).

Temporal's visibility on SQL stores cannot ``ORDER BY`` and lags a change, so a queue sorted by
what runs out first comes from here: one row per case, as of its newest event, written by the
case workflow's ``record_events`` local activity in the same transaction as the events (so at
the end of each workflow task that changed the case). Rows are read in deadline order from the
``cases_shop_queue`` and ``cases_state_queue`` indexes; a case without a deadline sorts last.

Reads use their own SQLite connection (WAL: readers never wait for the worker's writes).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from casefeed.store import open_database, parse_ts


class Queue(StrEnum):
    """Which cases a queue holds."""

    #: A shop's cases waiting on the merchant (staff and supervisors).
    WAITING = "waiting"
    #: A shop's refunds over the staff limit waiting for a decision (supervisors).
    OVER_LIMIT = "over_limit"
    #: A shop's cases in ``needs_attention`` (supervisors), with the reason.
    ATTENTION = "attention"
    #: A shop's open cases flagged ``dispute_risk`` (supervisors).
    DISPUTE = "dispute"
    #: Escalated cases waiting for the platform's decision, every shop (platform).
    ESCALATED = "escalated"
    #: Every open case (operators; a shop's when one is given).
    OPEN = "open"


#: Case types whose approval is checked against the staff refund limit (``domain.checks``).
LIMITED_TYPES = ("refund_only", "return_refund")


@dataclass(frozen=True)
class QueueFilter:
    states: tuple[str, ...] = ()
    type: str | None = None
    reason: str | None = None
    dispute_risk: bool | None = None


@dataclass(frozen=True)
class QueueRow:
    case_id: str
    shop_id: str
    type: str
    reason: str
    state: str
    waiting_on: str | None
    deadline: datetime | None
    deadline_kind: str | None
    dispute_risk: bool
    currency: str
    refund_amount: int
    version: int
    updated_at: datetime
    needs_attention_reason: str | None = None


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    page_size: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


_REASON = ("CASE WHEN c.state = 'needs_attention' THEN (SELECT json_extract(e.body, '$.data.reason') FROM events e"
           " WHERE e.case_key = c.case_key AND e.type = 'case.needs_attention'"
           " ORDER BY e.case_sequence DESC LIMIT 1) END AS needs_attention_reason")


def _where(queue: Queue, shop_id: str | None, staff_limit: int, flt: QueueFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if queue == Queue.ESCALATED:
        clauses.append("c.state = 'in_arbitration'")
    elif queue == Queue.OPEN:
        clauses.append("c.waiting_on IS NOT NULL")
    else:
        clauses.append("c.waiting_on = 'merchant'" if queue != Queue.DISPUTE else "c.waiting_on IS NOT NULL")
    if shop_id is not None:
        clauses.append("c.shop_id = ?")
        params.append(shop_id)
    elif queue not in (Queue.ESCALATED, Queue.OPEN):
        raise ValueError(f"the {queue} queue is a shop's: give shop_id")
    if queue == Queue.OVER_LIMIT:
        clauses.append(f"c.state = 'awaiting_merchant_decision' AND c.type IN {LIMITED_TYPES!r}"
                       " AND c.refund_amount > ?")
        params.append(staff_limit)
    elif queue == Queue.ATTENTION:
        clauses.append("c.state = 'needs_attention'")
    elif queue == Queue.DISPUTE:
        clauses.append("c.dispute_risk = 1")
    if flt.states:
        clauses.append(f"c.state IN ({', '.join('?' for _ in flt.states)})")
        params.extend(flt.states)
    if flt.type is not None:
        clauses.append("c.type = ?")
        params.append(flt.type)
    if flt.reason is not None:
        clauses.append("c.reason = ?")
        params.append(flt.reason)
    if flt.dispute_risk is not None:
        clauses.append("c.dispute_risk = ?")
        params.append(int(flt.dispute_risk))
    return " AND ".join(clauses), params


class QueueReader:
    """Reads queues from the event store's database (its own connection; synchronous: async
    callers use ``asyncio.to_thread``)."""

    def __init__(self, dsn: str) -> None:
        self._db = open_database(dsn)  # the tables and the queue indexes, if the worker has not made them yet
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def page(self, queue: Queue, *, shop_id: str | None = None, flt: QueueFilter | None = None,
             staff_limit: int = 0, page: int = 1, page_size: int = 50,
             count: tuple[Queue, ...] = ()) -> QueuePage:
        """One page of ``queue``, nearest deadline first (no deadline last, then by case), the
        total, and the totals of the queues in ``count`` (unfiltered, for the tabs)."""
        flt = flt or QueueFilter()
        where, params = _where(queue, shop_id, staff_limit, flt)
        page = max(page, 1)
        offset = (page - 1) * page_size
        # Cases with a deadline, then those without: two index-ordered reads (SQLite sorts NULL
        # first, and "deadline IS NULL" in ORDER BY would sort every row of the queue).
        select = f"SELECT c.*, {_REASON} FROM cases c WHERE {where} AND c.deadline"
        with self._lock:
            total, dated = self._db.execute(f"SELECT COUNT(*), COUNT(c.deadline) FROM cases c WHERE {where}",
                                            params).fetchone()
            rows = []
            if offset < dated:
                rows = self._db.execute(f"{select} IS NOT NULL ORDER BY c.deadline, c.case_key LIMIT ? OFFSET ?",
                                        [*params, page_size, offset]).fetchall()
            if len(rows) < page_size and total > dated:
                rows += self._db.execute(f"{select} IS NULL ORDER BY c.case_key LIMIT ? OFFSET ?",
                                         [*params, page_size - len(rows), max(offset - dated, 0)]).fetchall()
            counts = {}
            for other in count:
                w, p = _where(other, shop_id, staff_limit, QueueFilter())
                counts[other.value] = self._db.execute(f"SELECT COUNT(*) FROM cases c WHERE {w}", p).fetchone()[0]
        return QueuePage(rows=[_row(r) for r in rows], total=total, page=page, page_size=page_size, counts=counts)


def _row(r: sqlite3.Row) -> QueueRow:
    return QueueRow(case_id=r["case_id"], shop_id=r["shop_id"], type=r["type"], reason=r["reason"], state=r["state"],
                    waiting_on=r["waiting_on"], deadline=parse_ts(r["deadline"]) if r["deadline"] else None,
                    deadline_kind=r["deadline_kind"], dispute_risk=bool(r["dispute_risk"]), currency=r["currency"],
                    refund_amount=r["refund_amount"], version=r["version"], updated_at=parse_ts(r["updated_at"]),
                    needs_attention_reason=r["needs_attention_reason"])
