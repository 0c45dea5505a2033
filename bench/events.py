"""Events on/off: what outbound events cost per case (issue 20's budget: at most 15 % more
server CPU per case and 15 % less throughput with events on).

One stack, one platform-wide subscription for every event type, pointing at the sandbox's event
receiver (which checks every signature), so the worker's dispatcher really delivers. Both sides
are the same happy-path ``return_refund`` cases driven the same way; the only difference is the
case's start input (``CaseStart.events``, what ``AFTERSALES_EVENTS`` sets): off, a case's
``record_events`` calls carry its view only (what the API reads: every case records it); on, they
carry the change's events too, and each event is delivered.

Rounds run in pairs, interleaved in ABBA order (off, on, on, off, off, on, ...), on the same
stack, so load from the rest of a shared machine and a growing database weigh on both sides
alike. The rate's clock stops at the last payout, as in the throughput benchmark; the CPU window
of an "on" round runs on until the receiver has every event (pending deliveries drained), so the
dispatcher's work is charged to the side that made it.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from temporalio.api.enums.v1 import EventType

from bench.cases import SHOP, drive_case
from bench.stack import Bench, cpu_seconds, run_bounded, wait_for_payouts
from casefeed import signing
from casefeed.store import EventStore, Subscription
from runtime.cases import CaseService
from workflows.ids import case_workflow_id

SIDES = ("off", "on")


@dataclass
class Round:
    side: str
    cases: int
    seconds: float  # first open to last payout
    worker_cpu: float
    server_cpu: float
    driver_cpu: float
    providers_cpu: float
    drain_seconds: float  # last payout to the last delivery (0 with events off)
    dispatcher_cpu: float = 0.0  # a dispatcher process of its own (``apart``), else counted in the worker's

    @property
    def rate(self) -> float:
        return self.cases / self.seconds

    def ms(self, name: str) -> float:
        return float(getattr(self, f"{name}_cpu")) * 1000 / self.cases


@dataclass
class Pair:
    off: Round
    on: Round

    @property
    def throughput_ratio(self) -> float:
        """on / off cases per second (1.0: events cost no throughput)."""
        return self.on.rate / self.off.rate

    def cpu_ratio(self, name: str) -> float:
        """on / off CPU per case of ``worker``, ``server``, ... (1.0: events cost nothing)."""
        return self.on.ms(name) / self.off.ms(name)


@dataclass
class HistoryShape:
    """A case's history, averaged over a sample of a round's cases: what Temporal stores and runs
    for it (one case alone is a poor sample: how many workflow tasks a case takes depends on how
    its commands, results and timers happen to meet)."""

    events: float
    bytes: float
    workflow_tasks: float
    markers: float  # local activities (record_events)
    activities: float
    cases: int = 1


@dataclass
class EventsCost:
    cases: int  # per round
    rounds: list[Round] = field(default_factory=list)  # in the order they ran
    shapes: dict[str, HistoryShape] = field(default_factory=dict)
    delivered: int = 0
    undelivered: int = 0

    @property
    def pairs(self) -> list[Pair]:
        offs = [r for r in self.rounds if r.side == "off"]
        ons = [r for r in self.rounds if r.side == "on"]
        return [Pair(a, b) for a, b in zip(offs, ons, strict=False)]


def spread(values: list[float]) -> tuple[float, float, float]:
    """Median, min and max."""
    return statistics.median(values), min(values), max(values)


def schedule(pairs: int) -> list[str]:
    """off, on, on, off, off, on, ...: ``pairs`` rounds a side, interleaved."""
    order: list[str] = []
    for i in range(pairs):
        order += ["off", "on"] if i % 2 == 0 else ["on", "off"]
    return order


def _cpu(bench: Bench, dispatcher: subprocess.Popen[bytes] | None) -> tuple[float, float, float, float, float]:
    return (cpu_seconds(bench.worker_pids()), cpu_seconds(bench.server_pid()), time.process_time(),
            cpu_seconds(bench.providers_pid()), cpu_seconds(dispatcher.pid) if dispatcher else 0.0)


def events_store(bench: Bench) -> EventStore:
    return EventStore(bench.stack.env()["AFTERSALES_EVENTS_DSN"])


async def _wait_drained(store: EventStore, within: float) -> None:
    deadline = time.monotonic() + within
    while store.deliveries(state="pending", every_shop=True, limit=1):
        if time.monotonic() > deadline:
            raise TimeoutError(f"deliveries still pending {within:.0f}s after the last payout")
        await asyncio.sleep(0.2)


async def _round(bench: Bench, store: EventStore, secret: str, service: CaseService, side: str,
                 count: int, concurrency: int, dispatcher: subprocess.Popen[bytes] | None) -> tuple[Round, list[str]]:
    before = _cpu(bench, dispatcher)
    async with bench.sandbox() as sandbox:
        await sandbox.post("/reset")  # (resets the receiver too)
        (await sandbox.put("/receiver/config", json={"secret": secret})).raise_for_status()
        run = uuid.uuid4().hex[:8]
        ids = [f"e{side}{run}-{i:05d}" for i in range(count)]
        started = time.monotonic()
        await run_bounded([partial(drive_case, service, case_id, "return_refund") for case_id in ids], concurrency)
        paid = await wait_for_payouts(sandbox, count, within=120 + count)
        await _wait_drained(store, within=120 + count)
        drained = time.monotonic()
        after = _cpu(bench, dispatcher)
        worker, server, driver, providers, dispatching = (a - b for a, b in zip(after, before, strict=True))
        return Round(side, count, paid - started, worker, server, driver, providers, drained - paid,
                     dispatching), ids


async def _shape(service: CaseService, case_ids: list[str], sample: int = 20) -> HistoryShape:
    """The mean history of ``sample`` of ``case_ids``, spread evenly over them."""
    step = max(len(case_ids) // sample, 1)
    chosen = case_ids[::step][:sample]
    totals = [0.0] * 5
    for case_id in chosen:
        history = await service.client.get_workflow_handle(case_workflow_id(SHOP, case_id)).fetch_history()
        kinds = [e.event_type for e in history.events]
        for i, value in enumerate((len(kinds), len(history.to_json().encode()),
                                   kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
                                   kinds.count(EventType.EVENT_TYPE_MARKER_RECORDED),
                                   kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED))):
            totals[i] += value
    events, size, tasks, markers, activities = (t / len(chosen) for t in totals)
    return HistoryShape(events=events, bytes=size, workflow_tasks=tasks, markers=markers, activities=activities,
                        cases=len(chosen))


def _start_dispatcher(bench: Bench) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "casefeed.dispatch"], env=bench.stack.env(), stdout=subprocess.DEVNULL)


async def measure(bench: Bench, cases: int, concurrency: int, pairs: int = 3, warmup: int = 20,
                  say: Callable[[str], None] = print, dispatcher_apart: bool = False) -> EventsCost:
    """``pairs`` rounds of ``cases`` cases per side, interleaved; see the module's docstring.
    ``dispatcher_apart``: the stack's workers run with ``AFTERSALES_EVENT_DISPATCH=off`` (the caller
    sets it) and events are delivered by ``python -m casefeed.dispatch``, measured on its own."""
    dispatcher = _start_dispatcher(bench) if dispatcher_apart else None
    store = events_store(bench)
    secret = signing.new_secret()
    store.put_subscription(Subscription(
        id="bench-every-event", shop_id=None, url=f"{bench.stack.sandbox_url}/receiver/events", secret=secret,
        types=("*",), source="config", created_at=datetime.now(UTC)))
    services = {"on": await bench.service(events=True), "off": await bench.service(events=False)}
    try:
        for side in SIDES:
            await _round(bench, store, secret, services[side], side, min(warmup, cases), concurrency, dispatcher)
        result = EventsCost(cases)
        last: dict[str, list[str]] = {}
        for side in schedule(pairs):
            measured, last[side] = await _round(bench, store, secret, services[side], side, cases, concurrency,
                                                dispatcher)
            result.rounds.append(measured)
            say(f"  (round {len(result.rounds)}: events {side}, {measured.rate:.2f} cases/s)")
        for side, case_ids in last.items():
            result.shapes[side] = await _shape(services[side], case_ids)
        result.delivered = len(store.deliveries(state="delivered", every_shop=True, limit=10**9))
        result.undelivered = len(store.deliveries(state="pending", every_shop=True, limit=10**9)) + len(
            store.deliveries(state="failed", every_shop=True, limit=10**9))
        return result
    finally:
        store.close()
        if dispatcher is not None:
            dispatcher.terminate()
            dispatcher.wait(timeout=30)
