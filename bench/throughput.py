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
    #: The benchmark's own client (this process, driving the cases) and the fake providers: not
    #: the stack under test, but on the same 2 cores, so they weigh on the rate too.
    driver_cpu: float = 0.0
    providers_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.cases / self.seconds


@dataclass
class Throughput:
    cases: int  # per side
    rounds: list[Round] = field(default_factory=list)  # in the order they ran; every total is summed from them

    def _side(self, ours: bool) -> list[Round]:
        return [r for r in self.rounds if r.side == ("ours" if ours else "baseline")]

    def seconds(self, ours: bool = True) -> float:
        return sum(r.seconds for r in self._side(ours)) or float("nan")  # nan: that side did not run

    @property
    def ours_rate(self) -> float:
        return self.cases / self.seconds(True)

    @property
    def baseline_rate(self) -> float:
        return self.cases / self.seconds(False)

    @property
    def ratio(self) -> float:
        return self.ours_rate / self.baseline_rate

    def cpu_ms_per_case(self, ours: bool = True) -> tuple[float, float, float, float]:
        """Worker, server, driver and providers CPU per case, in ms."""
        mine = self._side(ours)
        worker, server, driver, providers = (sum(getattr(r, name) for r in mine) * 1000 / self.cases
                                             for name in ("worker_cpu", "server_cpu", "driver_cpu", "providers_cpu"))
        return worker, server, driver, providers


def _cpu(bench: Bench) -> tuple[float, float, float, float]:
    """CPU seconds so far of the worker(s), the server, this process and the providers."""
    return (cpu_seconds(bench.worker_pids()), cpu_seconds(bench.server_pid()), time.process_time(),
            cpu_seconds(bench.providers_pid()))


async def _round(bench: Bench, count: int, concurrency: int,
                 drive: Callable[[str], Awaitable[None]]) -> tuple[float, float, float, float, float]:
    """Drive ``count`` cases; return the seconds until the last payout was recorded and the CPU
    seconds the worker, the server, the driver and the providers spent meanwhile."""
    before = _cpu(bench)
    async with bench.sandbox() as sandbox:
        await sandbox.post("/reset")
        run = uuid.uuid4().hex[:8]
        started = time.monotonic()
        await run_bounded([partial(drive, f"t{run}-{i:05d}") for i in range(count)], concurrency)
        finished = await wait_for_payouts(sandbox, count, within=120 + count)
        after = _cpu(bench)
        worker, server, driver, providers = (a - b for a, b in zip(after, before, strict=True))
        return finished - started, worker, server, driver, providers


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
    return Throughput(cases, measured)
