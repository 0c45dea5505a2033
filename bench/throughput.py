"""Throughput: happy-path ``return_refund`` cases end to end, against the baseline.

Each case: open, approve, submit the return shipment, the courier's "delivered", a passed
inspection, and the refund paid by the engine. ``concurrency`` cases are in flight at a time.
The clock stops when the payment provider has recorded every payout. Ours and the baseline run
in alternating rounds (ours, baseline, baseline, ours, ours, baseline, ...; four rounds each by
default) after a warm-up, so neither gets the emptier database, the colder process or the
quieter spell of a shared machine.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from bench.cases import drive_baseline, drive_case
from bench.stack import Bench, cpu_seconds, run_bounded, wait_for_payouts
from runtime.cases import CaseService


@dataclass
class Round:
    side: str
    cases: int
    seconds: float
    worker_cpu: float
    server_cpu: float

    @property
    def rate(self) -> float:
        return self.cases / self.seconds


@dataclass
class Throughput:
    cases: int
    ours_seconds: float
    baseline_seconds: float
    ours_cpu: tuple[float, float] = (0.0, 0.0)  # worker, server CPU seconds over the measured rounds
    baseline_cpu: tuple[float, float] = (0.0, 0.0)
    rounds: list[Round] = field(default_factory=list)  # in the order they ran

    @property
    def ours_rate(self) -> float:
        return self.cases / self.ours_seconds

    @property
    def baseline_rate(self) -> float:
        return self.cases / self.baseline_seconds

    @property
    def ratio(self) -> float:
        return self.ours_rate / self.baseline_rate

    def cpu_ms_per_case(self, ours: bool = True) -> tuple[float, float]:
        worker, server = self.ours_cpu if ours else self.baseline_cpu
        return worker * 1000 / self.cases, server * 1000 / self.cases


async def _round(bench: Bench, count: int, concurrency: int,
                 drive: Callable[[str], Awaitable[None]]) -> tuple[float, float, float]:
    """Drive ``count`` cases; return the seconds until the last payout was recorded and the CPU
    seconds the worker and the server spent meanwhile."""
    cpu = cpu_seconds(bench.worker_pids()), cpu_seconds(bench.server_pid())
    async with bench.sandbox() as sandbox:
        await sandbox.post("/reset")
        run = uuid.uuid4().hex[:8]
        started = time.monotonic()
        await run_bounded([partial(drive, f"t{run}-{i:05d}") for i in range(count)], concurrency)
        finished = await wait_for_payouts(sandbox, count, within=120 + count)
        return (finished - started, cpu_seconds(bench.worker_pids()) - cpu[0],
                cpu_seconds(bench.server_pid()) - cpu[1])


def schedule(cases: int, rounds: int) -> list[tuple[str, int]]:
    """Which side runs how many cases, in order: ``rounds`` rounds per side in ABBA order (ours,
    baseline, baseline, ours, ours, baseline, ...), so a machine that speeds up or slows down
    during the run weighs on both sides alike. Each side runs ``cases`` in all."""
    rounds = max(1, min(rounds, cases))
    sizes = [cases // rounds + (1 if i < cases % rounds else 0) for i in range(rounds)]
    order: list[tuple[str, int]] = []
    for i, size in enumerate(sizes):
        pair = ("ours", "baseline") if i % 2 == 0 else ("baseline", "ours")
        order += [(side, size) for side in pair]
    return order


async def measure(bench: Bench, cases: int, concurrency: int, case_type: str = "return_refund",
                  warmup: int = 20, sides: tuple[str, ...] = ("ours", "baseline"), rounds: int = 4) -> Throughput:
    service: CaseService = await bench.service()
    client, queue = service.client, service.task_queue

    async def ours(case_id: str) -> None:
        await drive_case(service, case_id, case_type)

    async def baseline(case_id: str) -> None:
        await drive_baseline(client, queue, case_id, case_type)

    drivers = {"ours": ours, "baseline": baseline}
    for side in sides:
        await _round(bench, min(warmup, cases), concurrency, drivers[side])
    measured = [Round(side, count, *await _round(bench, count, concurrency, drivers[side]))
                for side, count in schedule(cases, rounds) if side in sides]

    def total(side: str) -> tuple[float, float, float]:
        mine = [r for r in measured if r.side == side]
        return (sum(r.seconds for r in mine), sum(r.worker_cpu for r in mine), sum(r.server_cpu for r in mine))

    o, b = total("ours"), total("baseline")
    return Throughput(cases, o[0], b[0] or float("nan"), (o[1], o[2]), (b[1], b[2]), measured)
