"""The dispatcher: sends pending deliveries to their subscribers, signed, at least once, in
order per case and subscription, retried with backoff until their give-up time.

It runs beside the worker (``worker.run_worker``), apart from the cases: a slow or failing
receiver never holds up a case. Its state is the store's ``deliveries`` table, so a crash of the
worker or of the Temporal server loses nothing: a delivery that was being sent when the process
died is sent again once its lease runs out (at least once; receivers dedupe by ``webhook-id``).
Several dispatchers (several workers) share the work through the leases.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from casefeed import signing
from casefeed.store import Delivery, EventStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchPolicy:
    first_retry: timedelta = timedelta(seconds=1)
    max_retry_interval: timedelta = timedelta(minutes=10)
    lease: timedelta = timedelta(seconds=60)
    request_timeout: float = 10.0
    batch: int = 64
    idle_sleep: float = 0.2

    def backoff(self, attempts: int) -> timedelta:
        """After the ``attempts``-th failure: 1 s, 2 s, 4 s, ... up to ``max_retry_interval``."""
        return min(self.first_retry * (2 ** max(attempts - 1, 0)), self.max_retry_interval)


class Dispatcher:
    def __init__(self, store: EventStore, http: httpx.AsyncClient, policy: DispatchPolicy | None = None) -> None:
        self._store = store
        self._http = http
        self.policy = policy or DispatchPolicy()

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a store hiccup must not stop delivery for good
                log.exception("event dispatch round failed; retrying")
                sent = 0
            if not sent:
                await asyncio.sleep(self.policy.idle_sleep)

    async def run_once(self) -> int:
        """One round: claim what is due and send it; returns how many were attempted."""
        due = await asyncio.to_thread(self._store.claim_due, datetime.now(UTC), self.policy.lease, self.policy.batch)
        if due:
            await asyncio.gather(*(self._send(d) for d in due))
        return len(due)

    async def _send(self, delivery: Delivery) -> None:
        body = delivery.body.encode()
        headers = signing.headers(delivery.secret, delivery.event_id, int(time.time()), body)
        status: int | None = None
        try:
            response = await self._http.post(delivery.url, content=body, headers=headers,
                                             timeout=self.policy.request_timeout)
            status = response.status_code
            ok = 200 <= status < 300
            error = "" if ok else f"HTTP {status}: {response.text[:200]}"
        except httpx.HTTPError as err:
            ok, error = False, f"{type(err).__name__}: {err}"
        now = datetime.now(UTC)
        if ok:
            await asyncio.to_thread(self._store.delivered, delivery.id, status or 0, now)
            return
        next_at = now + self.policy.backoff(delivery.attempts + 1)
        state = await asyncio.to_thread(self._store.attempt_failed, delivery.id, status, error, now, next_at)
        log.log(logging.WARNING if state == "failed" else logging.INFO,
                "event %s to %s: attempt %d failed (%s); %s", delivery.event_id, delivery.url, delivery.attempts + 1,
                error, "gave up" if state == "failed" else f"next at {next_at.isoformat()}")
