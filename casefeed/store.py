"""The event store: one relational database holding every outbound event, a ``cases`` read model,
the subscriptions and their deliveries.

SQLite by default (stdlib ``sqlite3``, WAL, so the API and the worker share one file); the DSN is
``sqlite:///path`` (or a bare path). The SQL keeps to what PostgreSQL also speaks (``?``
placeholders aside), so a PostgreSQL store can follow behind the same class.

- ``events``: one row per event; ``seq`` is the feed's cursor. SQLite has one writer at a time, so
  ``seq`` grows in commit order and a reader paging by ``seq`` never skips a row committed later.
  Unique on ``(case_key, case_sequence)``: a retried recording changes nothing.
- ``cases``: one row per case, the case as of its newest event, written in the same transaction.
- ``case_views``: one row per case, its whole view as of its newest recording: what the API
  answers for a case, instead of a workflow query.
- ``subscriptions``: URL, secret, event types, a shop or none (platform-wide).
- ``deliveries``: one row per (subscription, event), made with the event; the dispatcher
  (``casefeed.dispatch``) sends them.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from casefeed.events import CaseEvent, EventBatch

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    case_key TEXT NOT NULL,
    case_sequence INTEGER NOT NULL,
    case_id TEXT NOT NULL,
    shop_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (case_key, case_sequence)
);
CREATE INDEX IF NOT EXISTS events_shop ON events (shop_id, seq);
CREATE TABLE IF NOT EXISTS cases (
    case_key TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    shop_id TEXT NOT NULL,
    buyer_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    type TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    waiting_on TEXT,
    deadline TEXT,
    deadline_kind TEXT,
    dispute_risk INTEGER NOT NULL,
    close_reason TEXT,
    currency TEXT NOT NULL,
    refund_amount INTEGER NOT NULL,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_changed ON cases (last_seq);
-- The workbench's queues (casefeed.queue): a shop's cases waiting on it, and a state's cases
-- (escalations), each read in deadline order straight from the index; the queue's filters are in
-- the shop index too, so a filtered count never reads the table.
CREATE INDEX IF NOT EXISTS cases_shop_queue ON cases (shop_id, waiting_on, deadline, case_key, state, type, reason,
                                                     dispute_risk, refund_amount);
CREATE INDEX IF NOT EXISTS cases_state_queue ON cases (state, deadline, case_key);
-- What GET /v1/cases/{id} answers: each case's view as of its newest recording (the JSON of
-- domain.models.CaseView), written with the case's events (by record_events, or by the API from
-- a command's answer: CaseService.command), so reads never
-- query the workflow (docs/reliability.md: a query racing a workflow task can corrupt a history).
CREATE TABLE IF NOT EXISTS case_views (
    case_key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    shop_id TEXT,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    types TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    case_key TEXT NOT NULL,
    case_sequence INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    give_up_at TEXT NOT NULL,
    lease_until TEXT,
    last_status INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    UNIQUE (subscription_id, event_seq)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries (subscription_id, case_key, case_sequence);
"""


def ts(at: datetime) -> str:
    """A UTC timestamp as fixed-width text: sorts as text in time order."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def sqlite_path(dsn: str) -> str:
    """``sqlite:///rel/path``, ``sqlite:////abs/path`` or a bare path -> a file path."""
    if dsn.startswith("sqlite:///"):
        return dsn[len("sqlite:///"):]
    if "://" in dsn:
        raise ValueError(f"AFTERSALES_EVENTS_DSN: only sqlite:///path is supported so far, not {dsn!r}")
    return dsn


@dataclass(frozen=True)
class Subscription:
    id: str
    shop_id: str | None
    url: str
    secret: str
    types: tuple[str, ...]  # ("*",) for every type
    source: str
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: int
    subscription_id: str
    url: str
    secret: str
    event_id: str
    event_seq: int
    case_key: str
    case_sequence: int
    body: str
    state: str
    attempts: int
    give_up_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime


def _types_text(types: Iterable[str]) -> str:
    return "," + ",".join(types) + ","


def open_database(dsn: str) -> sqlite3.Connection:
    """A connection to the event store's file (made, with its folder, if missing), in WAL mode
    (one writer, readers never blocked) with every table and index in place. Autocommit: callers
    open their own transactions. Shared by the store, the queue reader and anything else that reads it."""
    path = sqlite_path(dsn)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    return db


def _replace_uncommitted(db: sqlite3.Connection, case_key: str, event: CaseEvent, now: datetime) -> None:
    row = db.execute("SELECT seq, id FROM events WHERE case_key = ? AND case_sequence = ?",
                     (case_key, event.sequence)).fetchone()
    if row is None or row["id"] == event.id:
        return
    log.warning("case %s: event %s at sequence %d replaces %s, numbered by a workflow task that was never "
                "committed; it is sent again", case_key, event.id, event.sequence, row["id"])
    db.execute("UPDATE events SET id = ?, version = ?, type = ?, occurred_at = ?, body = ? WHERE seq = ?",
               (event.id, event.version, event.type.value, ts(event.occurred_at), event.model_dump_json(),
                row["seq"]))
    db.execute("UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL,"
               " last_status = NULL, last_error = NULL, delivered_at = NULL WHERE event_seq = ?",
               (ts(now), row["seq"]))


class EventStore:
    """Synchronous; async callers run it in a thread (``asyncio.to_thread``). One connection,
    serialized by a lock; other processes share the file through SQLite's locking."""

    def __init__(self, dsn: str) -> None:
        self._db = open_database(dsn)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ----------------------------------------------------------------------------------------
    # Recording

    def record(self, batch: EventBatch, now: datetime, retry_for: timedelta, committed: bool = False) -> int:
        """Store the batch's events, their deliveries and the case row, in one transaction.
        Idempotent: an event already stored (same case and sequence) is skipped.

        ``committed``: the batch comes from a workflow task known to be committed (a command's
        answer). An event of another id at one of its sequences was then numbered by a task
        that was never committed (its retry took a command first): it is replaced, and sent
        again. A recording from inside a task (``record_events``) never replaces anything."""
        recorded = 0
        s = batch.summary
        with self._tx() as db:
            last_seq = None
            for event in batch.events:
                cursor = db.execute(
                    "INSERT INTO events (id, case_key, case_sequence, case_id, shop_id, version, type, occurred_at,"
                    " body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (event.id, batch.case_key, event.sequence, event.case_id, event.shop_id, event.version,
                     event.type.value, ts(event.occurred_at), event.model_dump_json()))
                if cursor.rowcount != 1:
                    if committed:
                        _replace_uncommitted(db, batch.case_key, event, now)
                    continue
                recorded += 1
                last_seq = cursor.lastrowid
                db.execute(
                    "INSERT INTO deliveries (subscription_id, event_seq, case_key, case_sequence, state,"
                    " next_attempt_at, give_up_at, created_at)"
                    " SELECT id, ?, ?, ?, 'pending', ?, ?, ? FROM subscriptions"
                    " WHERE (shop_id IS NULL OR shop_id = ?) AND (types = ',*,' OR types LIKE ?)",
                    (last_seq, batch.case_key, event.sequence, ts(now), ts(now + retry_for), ts(now),
                     event.shop_id, f"%,{event.type.value},%"))
            if last_seq is not None or (not batch.events and batch.view is not None):
                # With events off (a batch with a view and no events) the row still follows the
                # case, so the queues work; its last_seq stays what it was: it made no event.
                keep_seq = "excluded.last_seq" if last_seq is not None else "cases.last_seq"
                db.execute(
                    "INSERT INTO cases (case_key, case_id, shop_id, buyer_id, order_id, type, reason, state,"
                    " waiting_on, deadline, deadline_kind, dispute_risk, close_reason, currency, refund_amount,"
                    " version, updated_at, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (case_key) DO UPDATE SET state = excluded.state, type = excluded.type,"
                    " waiting_on = excluded.waiting_on, deadline = excluded.deadline,"
                    " deadline_kind = excluded.deadline_kind, dispute_risk = excluded.dispute_risk,"
                    " close_reason = excluded.close_reason, refund_amount = excluded.refund_amount,"
                    f" version = excluded.version, updated_at = excluded.updated_at, last_seq = {keep_seq}"
                    " WHERE excluded.version >= cases.version",
                    (s.case_key, s.case_id, s.shop_id, s.buyer_id, s.order_id, s.type.value, s.reason.value,
                     s.state.value, s.waiting_on.value if s.waiting_on else None,
                     ts(s.deadline) if s.deadline else None, s.deadline_kind, int(s.dispute_risk), s.close_reason,
                     s.currency, s.refund_amount, s.version, ts(s.updated_at), last_seq or 0))
            if batch.view is not None:
                db.execute(
                    "INSERT INTO case_views (case_key, version, body) VALUES (?, ?, ?) ON CONFLICT (case_key)"
                    " DO UPDATE SET version = excluded.version, body = excluded.body"
                    " WHERE excluded.version >= case_views.version",
                    (batch.case_key, batch.view.version, batch.view.model_dump_json()))
        return recorded

    # ----------------------------------------------------------------------------------------
    # Reading: the feed and the read model

    def case_view(self, case_key: str) -> str | None:
        """The case's view (``CaseView`` JSON) as of its newest recording, or None if none yet."""
        with self._lock:
            row = self._db.execute("SELECT body FROM case_views WHERE case_key = ?", (case_key,)).fetchone()
        return row["body"] if row else None

    def events_after(self, after: int, limit: int, shop_id: str | None = None,
                     case_id: str | None = None) -> list[tuple[int, CaseEvent]]:
        sql, params = "SELECT seq, body FROM events WHERE seq > ?", list[Any]([after])
        if shop_id is not None:
            sql += " AND shop_id = ?"
            params.append(shop_id)
        if case_id is not None:
            sql += " AND case_id = ?"
            params.append(case_id)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [(row["seq"], CaseEvent.model_validate_json(row["body"])) for row in rows]

    def cases_changed_after(self, after: int, limit: int, shop_id: str | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM cases WHERE last_seq > ?", list[Any]([after])
        if shop_id is not None:
            sql += " AND shop_id = ?"
            params.append(shop_id)
        sql += " ORDER BY last_seq LIMIT ?"
        params.append(limit)
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, params).fetchall()]

    def newest_cursor(self) -> int:
        """The cursor of the newest event stored (0 when there is none)."""
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def cases_updated_after(self, since: datetime, after: int, limit: int, *, states: Iterable[str] = (),
                            deadline_before: datetime | None = None,
                            **equal: str | bool | None) -> list[dict[str, Any]]:
        """The ``cases`` rows changed after ``since`` (the case's own ``updated_at``), in change
        order (``last_seq``), after the cursor ``after``; each with ``opened_at`` (its first event).
        ``equal``: column = value filters (shop_id, buyer_id, order_id, waiting_on, type,
        dispute_risk; None: no filter); ``deadline_before`` compares the deadline."""
        sql = ("SELECT c.*, (SELECT e.occurred_at FROM events e WHERE e.case_key = c.case_key"
               " AND e.case_sequence = 1) AS opened_at FROM cases c WHERE c.updated_at > ? AND c.last_seq > ?")
        params: list[Any] = [ts(since), after]
        states = list(states)
        if states:
            sql += f" AND c.state IN ({', '.join('?' * len(states))})"
            params += states
        if deadline_before is not None:
            sql += " AND c.deadline IS NOT NULL AND c.deadline < ?"
            params.append(ts(deadline_before))
        for column in ("shop_id", "buyer_id", "order_id", "waiting_on", "type", "dispute_risk"):
            value = equal.pop(column, None)
            if value is not None:
                sql += f" AND c.{column} = ?"
                params.append(int(value) if isinstance(value, bool) else value)
        if equal:
            raise ValueError(f"no such filter: {', '.join(equal)}")
        sql += " ORDER BY c.last_seq LIMIT ?"
        params.append(limit)
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, params).fetchall()]

    # ----------------------------------------------------------------------------------------
    # Subscriptions

    def put_subscription(self, sub: Subscription) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO subscriptions (id, shop_id, url, secret, types, source, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET shop_id = excluded.shop_id,"
                " url = excluded.url, secret = excluded.secret, types = excluded.types, source = excluded.source",
                (sub.id, sub.shop_id, sub.url, sub.secret, _types_text(sub.types), sub.source, ts(sub.created_at)))

    def subscriptions(self, shop_id: str | None = None, *, every_shop: bool = False) -> list[Subscription]:
        with self._lock:
            if every_shop:
                rows = self._db.execute("SELECT * FROM subscriptions ORDER BY created_at, id").fetchall()
            else:
                rows = self._db.execute("SELECT * FROM subscriptions WHERE shop_id IS ? ORDER BY created_at, id",
                                        (shop_id,)).fetchall()
        return [_subscription(row) for row in rows]

    def subscription(self, subscription_id: str) -> Subscription | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone()
        return _subscription(row) if row else None

    def delete_subscription(self, subscription_id: str) -> bool:
        """Remove it and its undelivered deliveries (delivered ones stay as the record)."""
        with self._tx() as db:
            gone = db.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,)).rowcount
            db.execute("DELETE FROM deliveries WHERE subscription_id = ? AND state != 'delivered'", (subscription_id,))
        return gone == 1

    # ----------------------------------------------------------------------------------------
    # Deliveries

    _DELIVERY = ("SELECT d.*, s.url, s.secret, e.id AS event_id, e.body FROM deliveries d"
                 " JOIN subscriptions s ON s.id = d.subscription_id JOIN events e ON e.seq = d.event_seq")

    def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
        """Pending deliveries that are due and first in their (subscription, case) queue, leased to
        the caller so another dispatcher leaves them alone until the lease runs out."""
        with self._tx() as db:
            rows = db.execute(
                self._DELIVERY + " WHERE d.state = 'pending' AND d.next_attempt_at <= ?"
                " AND (d.lease_until IS NULL OR d.lease_until <= ?)"
                " AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.subscription_id = d.subscription_id"
                " AND p.case_key = d.case_key AND p.state = 'pending' AND p.case_sequence < d.case_sequence)"
                " ORDER BY d.id LIMIT ?", (ts(now), ts(now), limit)).fetchall()
            for row in rows:
                db.execute("UPDATE deliveries SET lease_until = ? WHERE id = ?", (ts(now + lease), row["id"]))
        return [_delivery(row) for row in rows]

    def delivered(self, delivery_id: int, status: int, now: datetime) -> None:
        with self._tx() as db:
            db.execute("UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_status = ?,"
                       " last_error = NULL, delivered_at = ?, lease_until = NULL WHERE id = ?",
                       (status, ts(now), delivery_id))

    def attempt_failed(self, delivery_id: int, status: int | None, error: str, now: datetime,
                       next_attempt_at: datetime) -> str:
        """Count a failed attempt; past its give-up time the delivery is ``failed`` (an operator
        may retry it). Returns the new state."""
        with self._tx() as db:
            return self._attempt_failed(db, delivery_id, status, error, next_attempt_at)

    @staticmethod
    def _attempt_failed(db: sqlite3.Connection, delivery_id: int, status: int | None, error: str,
                        next_attempt_at: datetime) -> str:
        row = db.execute("SELECT give_up_at FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        if row is None:
            return "gone"
        state = "failed" if ts(next_attempt_at) > row["give_up_at"] else "pending"
        db.execute("UPDATE deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?,"
                   " next_attempt_at = ?, lease_until = NULL WHERE id = ?",
                   (state, status, error[:500], ts(next_attempt_at), delivery_id))
        return state

    def attempts_made(self, now: datetime, delivered: Iterable[tuple[int, int]],
                      failed: Iterable[tuple[int, int | None, str, datetime]]) -> dict[int, str]:
        """A dispatcher round's outcomes in one transaction: ``delivered`` as ``(id, status)``,
        ``failed`` as ``(id, status, error, next_attempt_at)`` (see :meth:`attempt_failed`).
        Returns each failed delivery's new state."""
        states: dict[int, str] = {}
        with self._tx() as db:
            db.executemany("UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_status = ?,"
                           " last_error = NULL, delivered_at = ?, lease_until = NULL WHERE id = ?",
                           [(status, ts(now), delivery_id) for delivery_id, status in delivered])
            for delivery_id, status, error, next_attempt_at in failed:
                states[delivery_id] = self._attempt_failed(db, delivery_id, status, error, next_attempt_at)
        return states

    def deliveries(self, *, state: str | None = None, shop_id: str | None = None, every_shop: bool = False,
                   subscription_id: str | None = None, limit: int = 100) -> list[Delivery]:
        sql, params = self._DELIVERY + " WHERE 1 = 1", list[Any]()
        if state is not None:
            sql += " AND d.state = ?"
            params.append(state)
        if not every_shop:
            sql += " AND s.shop_id IS ?"
            params.append(shop_id)
        if subscription_id is not None:
            sql += " AND d.subscription_id = ?"
            params.append(subscription_id)
        sql += " ORDER BY d.id LIMIT ?"
        params.append(limit)
        with self._lock:
            return [_delivery(row) for row in self._db.execute(sql, params).fetchall()]

    def delivery(self, delivery_id: int) -> Delivery | None:
        with self._lock:
            row = self._db.execute(self._DELIVERY + " WHERE d.id = ?", (delivery_id,)).fetchone()
        return _delivery(row) if row else None

    def retry(self, delivery_id: int, now: datetime, retry_for: timedelta) -> bool:
        """An operator's retry: due now, with a fresh give-up time; a delivered one is sent again."""
        with self._tx() as db:
            return db.execute("UPDATE deliveries SET state = 'pending', next_attempt_at = ?, give_up_at = ?,"
                              " lease_until = NULL WHERE id = ?",
                              (ts(now), ts(now + retry_for), delivery_id)).rowcount == 1


def _subscription(row: sqlite3.Row) -> Subscription:
    return Subscription(id=row["id"], shop_id=row["shop_id"], url=row["url"], secret=row["secret"],
                        types=tuple(t for t in row["types"].split(",") if t), source=row["source"],
                        created_at=parse_ts(row["created_at"]))


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(id=row["id"], subscription_id=row["subscription_id"], url=row["url"], secret=row["secret"],
                    event_id=row["event_id"], event_seq=row["event_seq"], case_key=row["case_key"],
                    case_sequence=row["case_sequence"], body=row["body"], state=row["state"],
                    attempts=row["attempts"], give_up_at=parse_ts(row["give_up_at"]),
                    last_status=row["last_status"], last_error=row["last_error"],
                    created_at=parse_ts(row["created_at"]),
                    delivered_at=parse_ts(row["delivered_at"]) if row["delivered_at"] else None,
                    next_attempt_at=parse_ts(row["next_attempt_at"]))


def load_subscriptions_file(path: str) -> list[dict[str, Any]]:
    """The configured subscriptions: a JSON list of ``{id, shop_id?, url, secret, types}``."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of subscriptions")
    return data
