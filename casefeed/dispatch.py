"""The dispatcher: sends pending deliveries to their subscribers, signed, at least once, in
order per case and subscription, retried with backoff until their give-up time.

It runs beside the worker (``worker.run_worker``), or alone (``python -m casefeed.dispatch``, with
the workers at ``AFTERSALES_EVENT_DISPATCH=off``), apart from the cases: a slow or failing
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


def http_client(policy: DispatchPolicy | None = None) -> httpx.AsyncClient:
    """The dispatcher's own HTTP client, keeping alive as many connections as a round sends at
    once: with httpx's default of 20 (and the providers' calls sharing them) a busy dispatcher
    opened and closed most of its connections every round, which the worker's profile showed."""
    batch = (policy or DispatchPolicy()).batch
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=batch, max_keepalive_connections=batch))


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
        """One round: claim what is due, send it, and store the outcomes (one transaction for the
        round, not one per delivery: the store's writes are shared with the cases' recording);
        returns how many were attempted."""
        due = await asyncio.to_thread(self._store.claim_due, datetime.now(UTC), self.policy.lease, self.policy.batch)
        if not due:
            return 0
        outcomes = await asyncio.gather(*(self._send(d) for d in due))
        now = datetime.now(UTC)
        delivered = [(d.id, status or 0) for d, status, error in outcomes if error is None]
        failed = [(d.id, status, error, now + self.policy.backoff(d.attempts + 1))
                  for d, status, error in outcomes if error is not None]
        states = await asyncio.to_thread(self._store.attempts_made, now, delivered, failed)
        for d, _, error in outcomes:
            if error is None:
                continue
            state = states.get(d.id, "gone")
            log.log(logging.WARNING if state == "failed" else logging.INFO,
                    "event %s to %s: attempt %d failed (%s); %s", d.event_id, d.url, d.attempts + 1, error,
                    "gave up" if state == "failed" else
                    f"next in {self.policy.backoff(d.attempts + 1).total_seconds():.0f} s")
        return len(due)

    async def _send(self, delivery: Delivery) -> tuple[Delivery, int | None, str | None]:
        """POST one delivery; ``(delivery, HTTP status, None if delivered else why not)``."""
        body = delivery.body.encode()
        headers = signing.headers(delivery.secret, delivery.event_id, int(time.time()), body)
        try:
            response = await self._http.post(delivery.url, content=body, headers=headers,
                                             timeout=self.policy.request_timeout)
        except httpx.HTTPError as err:
            return delivery, None, f"{type(err).__name__}: {err}"
        status = response.status_code
        return delivery, status, None if 200 <= status < 300 else f"HTTP {status}: {response.text[:200]}"


async def run_alone() -> None:
    """Deliver events in a process of its own, beside workers run with ``AFTERSALES_EVENT_DISPATCH=off``:
    delivery's CPU (one signed HTTP request per event and subscription) then runs on other cores or
    machines than the cases. Several such processes share the work through the leases."""
    from runtime.logs import configure_logging
    from runtime.settings import Settings

    settings = Settings()
    configure_logging(settings)
    store = EventStore(settings.events_dsn)
    async with http_client() as http:
        log.info("dispatching events from %s", settings.events_dsn)
        await Dispatcher(store, http).run()


if __name__ == "__main__":  # python -m casefeed.dispatch
    try:
        asyncio.run(run_alone())
    except KeyboardInterrupt:
        pass
