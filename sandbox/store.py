"""The sandbox's records (payouts, messages, parcels, the event receiver's accepted events): in
memory, and written through to SQLite.

Each change is one row, inserted (a payout, a message) or replaced (a parcel's latest scan), in
its own transaction, so a change costs the same at 10 records and at 100,000 and the file is
never rewritten whole. The database runs in WAL mode with ``synchronous=NORMAL``: a committed row
survives the sandbox being killed at any moment (SIGKILL included; the WAL is in the OS's page
cache); only a power cut can lose the last few commits, which a stand-in provider can afford.

A commit takes tens of microseconds, so the writes stay on the event loop: a write that cannot
interleave with another request keeps the database and the memory in the same order. Reads are
served from memory, with indexes by case for the lookups the pipeline's tests make.

Without a path the database is in memory only (tests and benchmarks).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

from sandbox.models import Message, Parcel, Payout

#: ``PRAGMA user_version`` of the schema below.
FORMAT_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS payouts (
    seq INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, case_id TEXT NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, dedupe_key TEXT NOT NULL UNIQUE, case_id TEXT NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parcels (
    carrier TEXT NOT NULL, tracking_number TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (carrier, tracking_number)
);
CREATE TABLE IF NOT EXISTS received_events (
    seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, case_id TEXT NOT NULL, doc TEXT NOT NULL
);
"""
#: Tables added after a format version was released (``received_events``) are created on open by
#: ``CREATE TABLE IF NOT EXISTS``; the existing tables are unchanged, so the version stays.


class Store:
    """The records, as dicts and lists in memory, each change written through as one row."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        #: by idempotency key; insertion order is the ledger order
        self.payouts: dict[str, Payout] = {}
        self.messages: list[Message] = []
        #: dedupe key -> message id
        self.message_keys: dict[str, str] = {}
        #: (carrier, tracking number) -> latest scan
        self.parcels: dict[tuple[str, str], Parcel] = {}
        self.messages_by_case: dict[str, list[Message]] = defaultdict(list)
        self.payouts_by_case: dict[str, list[Payout]] = defaultdict(list)
        #: the event receiver's accepted deliveries, in arrival order (``sandbox.receiver``)
        self.received: list[dict[str, Any]] = []
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _refuse_foreign_file(path)
        # isolation_level=None: autocommit, each statement is its own transaction.
        self._db = sqlite3.connect(
            str(path) if path is not None else ":memory:", isolation_level=None, check_same_thread=False
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, FORMAT_VERSION):
            self._db.close()
            raise ValueError(f"{path}: sandbox database version {version}, expected {FORMAT_VERSION}")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={FORMAT_VERSION}")
        self._load()

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None) -> Store:
        """The store kept in the SQLite file ``path`` (created if missing), or in memory only."""
        return cls(Path(path) if path is not None else None)

    # ------------------------------------------------------------------------------ writes

    def add_payout(self, payout: Payout) -> None:
        self._db.execute(
            "INSERT INTO payouts (idempotency_key, case_id, doc) VALUES (?, ?, ?)",
            (payout.idempotency_key, payout.case_id, payout.model_dump_json()),
        )
        self._index_payout(payout)

    def add_message(self, message: Message) -> None:
        self._db.execute(
            "INSERT INTO messages (dedupe_key, case_id, doc) VALUES (?, ?, ?)",
            (message.dedupe_key, message.case_id, message.model_dump_json()),
        )
        self._index_message(message)

    def put_parcel(self, parcel: Parcel) -> None:
        """Record the parcel's latest scan (replacing the one before)."""
        self._db.execute(
            "INSERT INTO parcels (carrier, tracking_number, doc) VALUES (?, ?, ?) "
            "ON CONFLICT (carrier, tracking_number) DO UPDATE SET doc = excluded.doc",
            (parcel.carrier, parcel.tracking_number, parcel.model_dump_json()),
        )
        self.parcels[(parcel.carrier, parcel.tracking_number)] = parcel

    def add_received(self, record: dict[str, Any]) -> None:
        """One delivery the event receiver accepted (committed before it answers 2xx)."""
        self._db.execute(
            "INSERT INTO received_events (event_id, case_id, doc) VALUES (?, ?, ?)",
            (str(record.get("id")), str(record.get("case_id")), json.dumps(record, separators=(",", ":"))),
        )
        self.received.append(record)

    def clear_received(self) -> None:
        self._db.execute("DELETE FROM received_events")
        self.received.clear()

    def clear(self) -> None:
        with self._db:  # one transaction: every table or none
            self._db.execute("BEGIN")
            for table in ("payouts", "messages", "parcels", "received_events"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - a fixed table name
        self.payouts.clear()
        self.messages.clear()
        self.message_keys.clear()
        self.parcels.clear()
        self.messages_by_case.clear()
        self.payouts_by_case.clear()
        self.received.clear()

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------------------ loading

    def _load(self) -> None:
        for (doc,) in self._db.execute("SELECT doc FROM payouts ORDER BY seq"):
            self._index_payout(Payout.model_validate_json(doc))
        for (doc,) in self._db.execute("SELECT doc FROM messages ORDER BY seq"):
            self._index_message(Message.model_validate_json(doc))
        for (doc,) in self._db.execute("SELECT doc FROM parcels"):
            parcel = Parcel.model_validate_json(doc)
            self.parcels[(parcel.carrier, parcel.tracking_number)] = parcel
        self.received = [json.loads(doc) for (doc,) in self._db.execute("SELECT doc FROM received_events ORDER BY seq")]

    def _index_payout(self, payout: Payout) -> None:
        self.payouts[payout.idempotency_key] = payout
        self.payouts_by_case[payout.case_id].append(payout)

    def _index_message(self, message: Message) -> None:
        self.messages.append(message)
        self.message_keys[message.dedupe_key] = message.message_id
        self.messages_by_case[message.case_id].append(message)


def _refuse_foreign_file(path: Path) -> None:
    """A file that is not a SQLite database (e.g. the JSON state file of earlier versions) is
    refused with a clear message rather than overwritten."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        hint = " (the JSON state file of an earlier sandbox: delete it or choose another path)" if head[:1] == b"{" else ""
        raise ValueError(f"{path}: not a sandbox database{hint}")

