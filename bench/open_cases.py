"""Open cases: many cases open and waiting (default policy: the merchant has days to decide).

Cases are opened through the real path (order ledger, then the case) at ``concurrency`` at a
time. At each size in ``sizes`` the benchmark waits until every case has run its first task,
then reads the worker's resident memory (now and peak), the dev server's, and the database's
logical size. Memory is bounded when the figures at the larger size are not larger than at
the smaller one by more than noise: the worker keeps at most ``AFTERSALES_MAX_CACHED_WORKFLOWS``
cases in memory, and a waiting case costs the server only rows in its database.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from functools import partial

from bench.cases import SYSTEM, case_request
from bench.stack import Bench, cpu_seconds, memory_kib, run_bounded


@dataclass
class OpenAt:
    cases: int
    seconds: float  # to open them all (cumulative)
    worker_rss_mib: float
    worker_peak_mib: float
    server_rss_mib: float
    db_mib: float


@dataclass
class OpenCases:
    empty_db_mib: float
    sizes: list[OpenAt]
    worker_cpu_seconds: float
    server_cpu_seconds: float

    def db_kib_per_case(self) -> float:
        last = self.sizes[-1]
        return (last.db_mib - self.empty_db_mib) * 1024 / last.cases


async def wait_for_first_tasks(bench: Bench, count: int, within: float) -> None:
    """Every case sends its 'case opened' notice in its first task: wait for ``count`` of them."""
    async with bench.sandbox() as sandbox:
        stop = time.monotonic() + within
        while True:
            inbox = (await sandbox.get("/notify/messages", params={"kind": "case_opened", "limit": 0})).json()
            if inbox["count"] >= count or time.monotonic() > stop:
                return
            await asyncio.sleep(1)


async def measure(bench: Bench, sizes: list[int], concurrency: int = 50) -> OpenCases:
    service = await bench.service()
    async with bench.sandbox() as sandbox:
        await sandbox.post("/reset")
    run = uuid.uuid4().hex[:8]
    worker, server = bench.worker_pids(), bench.server_pid()
    empty = bench.db_bytes() / 2**20
    cpu_before = cpu_seconds(worker), cpu_seconds(server)
    opened = 0
    started = time.monotonic()
    results = []
    for size in sorted(sizes):
        await run_bounded([partial(service.open_case, case_request(f"w{run}-{i:06d}", "return_refund"), SYSTEM)
                           for i in range(opened, size)], concurrency)
        opened = size
        await wait_for_first_tasks(bench, size, within=120)
        elapsed = time.monotonic() - started
        await asyncio.sleep(2)
        w, s = memory_kib(worker), memory_kib(server)
        results.append(OpenAt(size, elapsed, w["VmRSS"] / 1024, w["VmHWM"] / 1024, s["VmRSS"] / 1024,
                              bench.db_bytes() / 2**20))
    return OpenCases(empty, results, cpu_seconds(worker) - cpu_before[0], cpu_seconds(server) - cpu_before[1])
