"""The reports' fact tables, projected from the outbound events (``casefeed``) by their ``seq``.

The event store is the durable record of every change of every case (written by the case
workflow's ``record_events``). The projector reads it after its own cursor and folds each
event into one row per case (``report_cases``: what the case was, how it ended, who decided,
what it paid and on whose decision, how long the merchant took, escalation, arbitration,
reminders) and one row per automatic action (``report_automatic``). It runs when a report is
asked for (``catch_up``), so the cases never wait for it.

The fact tables live in a database file of their own (``reports.sqlite3`` beside the event
store unless ``AFTERSALES_REPORTS_DSN`` says otherwise): the projector only *reads* the event
store, and a WAL reader never blocks the worker's writes. Deleting the file rebuilds the facts
from the first event.

Who decided a payout is read from the step that started it (``case.state_changed`` to
``refunding``: its ``by`` and ``action``, which ``casefeed.events.derive`` adds): a step that
began with ``deadline_expired`` is automatic (the deadline's kind is the preceding
``case.automatic_action`` of the same version); the platform's is ``platform``; any other
(staff approval or inspection, an offer the buyer accepted, a replacement the buyer confirmed)
is ``staff``. A resumed payout keeps the cause of the one that failed. An outcome without a
payout is decided the same way, except that a buyer's cancellation is ``buyer``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from casefeed.store import sqlite_path, ts

SCHEMA = """
CREATE TABLE IF NOT EXISTS report_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS report_cases (
    case_key TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    type TEXT,
    reason TEXT,
    currency TEXT,
    opened_at TEXT,
    ended_at TEXT,
    outcome TEXT,
    close_reason TEXT,
    decided_by TEXT,
    automatic_kind TEXT,
    paid_refund INTEGER NOT NULL DEFAULT 0,
    paid_reimbursement INTEGER NOT NULL DEFAULT 0,
    paid_compensation INTEGER NOT NULL DEFAULT 0,
    first_response_seconds INTEGER,
    resolution_seconds INTEGER,
    escalated INTEGER NOT NULL DEFAULT 0,
    arbitration TEXT,
    dispute_risk INTEGER NOT NULL DEFAULT 0,
    reminders INTEGER NOT NULL DEFAULT 0,
    reminders_acted INTEGER NOT NULL DEFAULT 0,
    pending_merchant INTEGER NOT NULL DEFAULT 0,
    pending_buyer INTEGER NOT NULL DEFAULT 0,
    payout_by TEXT,
    payout_kind TEXT,
    auto_kind TEXT,
    auto_version INTEGER
);
CREATE INDEX IF NOT EXISTS report_cases_ended ON report_cases (shop_id, ended_at);
CREATE INDEX IF NOT EXISTS report_cases_ended_all ON report_cases (ended_at);
CREATE INDEX IF NOT EXISTS report_cases_opened ON report_cases (shop_id, opened_at);
CREATE INDEX IF NOT EXISTS report_cases_opened_all ON report_cases (opened_at);
CREATE TABLE IF NOT EXISTS report_automatic (
    seq INTEGER PRIMARY KEY,
    case_key TEXT NOT NULL,
    shop_id TEXT NOT NULL,
    deadline_kind TEXT NOT NULL,
    occurred_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS report_automatic_at ON report_automatic (shop_id, occurred_at);
CREATE INDEX IF NOT EXISTS report_automatic_at_all ON report_automatic (occurred_at);
"""

MERCHANT_ROLES = ("staff", "supervisor")
#: Events read per transaction of the projector.
PAGE = 5_000


@dataclass
class CaseFacts:
    """One row of ``report_cases`` (see the module docstring for how each field is found)."""

    case_key: str
    shop_id: str
    case_id: str
    type: str | None = None
    reason: str | None = None
    currency: str | None = None
    opened_at: str | None = None
    ended_at: str | None = None
    outcome: str | None = None
    close_reason: str | None = None
    decided_by: str | None = None  # automatic | staff | buyer | platform
    automatic_kind: str | None = None  # the deadline whose outcome decided it
    paid_refund: int = 0
    paid_reimbursement: int = 0  # return shipping reimbursed
    paid_compensation: int = 0  # out-of-stock compensation
    first_response_seconds: int | None = None
    resolution_seconds: int | None = None
    escalated: int = 0
    arbitration: str | None = None  # refund_full | refund_partial | deny
    dispute_risk: int = 0
    reminders: int = 0
    reminders_acted: int = 0
    pending_merchant: int = 0  # reminders to the shop or supervisor not yet followed by a merchant action
    pending_buyer: int = 0
    payout_by: str | None = None
    payout_kind: str | None = None
    auto_kind: str | None = None  # the latest automatic action's deadline and case version
    auto_version: int | None = None


COLUMNS = tuple(f.name for f in fields(CaseFacts))


def _seconds(start: str | None, end: str) -> int | None:
    if start is None:
        return None
    # (fromisoformat reads the store's fixed-width UTC text ten times faster than strptime)
    return int((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())


def _cause(data: dict[str, Any], version: int, facts: CaseFacts) -> tuple[str, str | None]:
    """Who made the step of this state change: (automatic | platform | staff | buyer, deadline kind)."""
    if data.get("action") == "deadline_expired" and facts.auto_version == version:
        return "automatic", facts.auto_kind
    by = data.get("by")
    if by == "platform":
        return "platform", None
    if by == "buyer" and data.get("action") == "cancel":
        return "buyer", None
    # The merchant's decision: theirs, or the buyer agreeing to it (an offer, a refusal, a failed
    # inspection, a replacement received).
    return "staff", None


def fold(facts: CaseFacts, kind: str, version: int, occurred_at: str, data: dict[str, Any]) -> None:
    """Apply one event to its case's facts (events of a case arrive in order)."""
    by = data.get("by")
    if by in MERCHANT_ROLES:
        if facts.first_response_seconds is None and facts.opened_at is not None:
            facts.first_response_seconds = _seconds(facts.opened_at, occurred_at)
        facts.reminders_acted += facts.pending_merchant
        facts.pending_merchant = 0
    elif by == "buyer":
        facts.reminders_acted += facts.pending_buyer
        facts.pending_buyer = 0
    if kind == "case.opened":
        facts.type, facts.reason, facts.currency = data.get("type"), data.get("reason"), data.get("currency")
        opened = data.get("opened_at")
        facts.opened_at = ts(datetime.fromisoformat(opened)) if opened else occurred_at
    elif kind == "case.reminder_sent":
        facts.reminders += 1
        if data.get("to") == "buyer":
            facts.pending_buyer += 1
        else:
            facts.pending_merchant += 1
    elif kind == "case.automatic_action":
        facts.auto_kind, facts.auto_version = data.get("deadline"), version
        facts.pending_merchant = facts.pending_buyer = 0  # the deadline passed: those reminders went unheeded
    elif kind == "case.dispute_risk_flagged":
        facts.dispute_risk = 1
    elif kind == "case.state_changed":
        source, target = data.get("from"), data.get("to")
        if target == "in_arbitration":
            facts.escalated = 1
        if source == "in_arbitration" and data.get("arbitration"):
            facts.arbitration = data["arbitration"]
        if target == "refunding" and source != "needs_attention":
            facts.payout_by, facts.payout_kind = _cause(data, version, facts)
        if target in ("refunded", "completed", "closed"):
            if facts.payout_by is not None and source == "refunding":
                facts.decided_by, facts.automatic_kind = facts.payout_by, facts.payout_kind
            else:
                facts.decided_by, facts.automatic_kind = _cause(data, version, facts)
    elif kind == "case.refund_paid":
        lines = data.get("lines") or []
        compensation = sum(line["amount"] for line in lines if line.get("kind") == "out_of_stock_compensation")
        facts.paid_refund += int(data.get("refund", 0))
        facts.paid_compensation += compensation
        facts.paid_reimbursement += int(data.get("reimbursement", 0)) - compensation
    elif kind == "case.ended":
        facts.ended_at = occurred_at
        facts.outcome = data.get("outcome")
        facts.close_reason = data.get("close_reason")
        facts.resolution_seconds = _seconds(facts.opened_at, occurred_at)


def reports_path(events_dsn: str, reports_dsn: str | None = None) -> str:
    """Where the fact tables live: ``reports_dsn``, else ``reports.sqlite3`` beside the event store."""
    if reports_dsn:
        return sqlite_path(reports_dsn)
    events = sqlite_path(events_dsn)
    if events == ":memory:":
        raise ValueError("the reports need a file event store (AFTERSALES_EVENTS_DSN), not :memory:")
    return str(Path(events).with_name("reports.sqlite3"))


class Projector:
    """The fact tables and their cursor. Synchronous; async callers use ``asyncio.to_thread``."""

    def __init__(self, events_dsn: str, reports_dsn: str | None = None) -> None:
        path = reports_path(events_dsn, reports_dsn)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        events = sqlite_path(events_dsn)
        Path(events).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._events = sqlite3.connect(events, timeout=30, check_same_thread=False, isolation_level=None)
        self._events.execute("PRAGMA journal_mode=WAL")

    def close(self) -> None:
        with self._lock:
            self.db.close()
            self._events.close()

    @property
    def cursor(self) -> int:
        row = self.db.execute("SELECT seq FROM report_cursor WHERE id = 1").fetchone()
        return int(row["seq"]) if row else 0

    def catch_up(self, page: int = PAGE) -> int:
        """Fold every event stored after the cursor; returns how many were folded."""
        folded = 0
        with self._lock:
            while True:
                done = self._page(page)
                folded += done
                if done < page:
                    return folded

    def _page(self, page: int) -> int:
        # The write lock is held from reading the cursor to moving it: another process folding the
        # same file (the API and a worker's weekly job) waits, and never folds an event twice.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            folded = self._fold_page(page)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return folded

    def _fold_page(self, page: int) -> int:
        try:
            rows = self._events.execute(
                "SELECT seq, case_key, case_id, shop_id, version, type, occurred_at, body FROM events"
                " WHERE seq > ? ORDER BY seq LIMIT ?", (self.cursor, page)).fetchall()
        except sqlite3.OperationalError as err:
            if "no such table" in str(err):  # no case has been recorded yet
                return 0
            raise
        if not rows:
            return 0
        keys = sorted({row[1] for row in rows})
        known: dict[str, CaseFacts] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for found in self.db.execute(f"SELECT * FROM report_cases WHERE case_key IN ({marks})", chunk):
                known[found["case_key"]] = CaseFacts(**{name: found[name] for name in COLUMNS})
        automatic: list[tuple[int, str, str, str, str]] = []
        for seq, case_key, case_id, shop_id, version, kind, occurred_at, body in rows:
            facts = known.get(case_key)
            if facts is None:
                facts = known[case_key] = CaseFacts(case_key=case_key, shop_id=shop_id, case_id=case_id)
            data = json.loads(body)["data"]
            fold(facts, kind, version, occurred_at, data)
            if kind == "case.automatic_action":
                automatic.append((seq, case_key, shop_id, str(data.get("deadline")), occurred_at))
        marks = ",".join("?" * len(COLUMNS))
        self.db.executemany(f"INSERT OR REPLACE INTO report_cases ({','.join(COLUMNS)}) VALUES ({marks})",
                            [tuple(getattr(f, c) for c in COLUMNS) for f in known.values()])
        self.db.executemany("INSERT OR IGNORE INTO report_automatic VALUES (?, ?, ?, ?, ?)", automatic)
        self.db.execute("INSERT INTO report_cursor (id, seq) VALUES (1, ?) ON CONFLICT (id) DO UPDATE"
                        " SET seq = excluded.seq", (rows[-1][0],))
        return len(rows)

    def shop_known(self, shop_id: str) -> bool:
        with self._lock:
            return self.db.execute("SELECT 1 FROM report_cases WHERE shop_id = ? LIMIT 1", (shop_id,)).fetchone() \
                is not None

    def shops(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self.db.execute("SELECT DISTINCT shop_id FROM report_cases ORDER BY shop_id")]

    def query(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()
