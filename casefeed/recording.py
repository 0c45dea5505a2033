"""The activity that writes a case's new events to the event store (one call per workflow task
that changed the case, with all of that task's events)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import activity

from casefeed.events import EventBatch, RecordResult
from casefeed.store import EventStore


class EventActivities:
    def __init__(self, store: EventStore, retry_for: timedelta) -> None:
        self._store = store
        self._retry_for = retry_for

    @activity.defn(name="record_events")
    async def record_events(self, batch: EventBatch) -> RecordResult:
        """Idempotent: a batch stored before (a retried activity) stores nothing again."""
        now = datetime.now(UTC)
        recorded = await asyncio.to_thread(self._store.record, batch, now, self._retry_for)
        return RecordResult(recorded=recorded)
