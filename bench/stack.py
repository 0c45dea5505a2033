"""A fresh stack for each benchmark: ``cli.dev.DevStack`` on free ports in a temporary folder.

The sandbox keeps its state in memory (its state file is rewritten on every change, which would
measure the sandbox, not us); everything else is the dev stack as users run it. Also here: the
figures read off the processes (resident memory from ``/proc``) and the server's database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from casefeed.store import EventStore
from cli.dev import DevStack, free_ports
from domain.policy import Policy, load_policy
from runtime.cases import CaseService
from runtime.settings import Settings
from runtime.temporal import connect

DEFAULT_PRAGMAS: tuple[str, ...] = ("journal_mode=wal", "synchronous=normal")


@dataclass
class StackOptions:
    """What a benchmark may vary: the dev server's SQLite pragmas and the worker's settings
    (environment variables of ``runtime.settings.Settings``)."""

    sqlite_pragmas: Sequence[str] = DEFAULT_PRAGMAS
    dynamic_config: Sequence[str] = ()
    worker_env: dict[str, str] = field(default_factory=dict)
    policy: Path | None = None
    keep_data: bool = False
    workers: int = 1


@dataclass
class Bench:
    """A running stack and what a benchmark needs to drive and measure it."""

    stack: DevStack
    options: StackOptions

    async def service(self, policy: Policy | None = None, events: bool = True) -> CaseService:
        """Opens cases with outbound events on or off (``bench.events`` compares the two), and
        stores what each command changed in the stack's event store, as the API does (the
        command's own workflow task records nothing: ``workflows.case``)."""
        client = await connect(self.stack.temporal_address)
        return CaseService(client, Settings().task_queue, policy or load_policy(self.options.policy), events=events,
                           store=EventStore(self.stack.env()["AFTERSALES_EVENTS_DSN"]))

    def sandbox(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.stack.sandbox_url, timeout=60)

    def worker_pids(self) -> list[int]:
        """Every worker process (``StackOptions.workers``); figures are summed over them."""
        pids = [c.process.pid for c in self.stack.children if c.name.startswith("worker") and c.process is not None]
        assert pids, "the stack runs no worker"
        return pids

    def server_pid(self) -> int:
        return self._pid("temporal")

    def providers_pid(self) -> int:
        """The sandbox that stands in for the payment, courier and notification providers."""
        return self._pid("sandbox")

    def _pid(self, name: str) -> int:
        child = next(c for c in self.stack.children if c.name == name)
        assert child.process is not None
        return child.process.pid

    @property
    def db_path(self) -> Path:
        return self.stack.data_dir / "temporal.db"

    def db_bytes(self) -> int:
        """The database's logical size (pages in use, WAL included), as a reader sees it."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)) as db:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            size = db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)


def memory_kib(pids: int | Iterable[int]) -> dict[str, int]:
    """``VmRSS`` (now) and ``VmHWM`` (peak) of the process(es), in KiB, summed over processes
    (so the peak is an upper bound when several processes peaked at different times)."""
    figures = {"VmRSS": 0, "VmHWM": 0}
    for pid in [pids] if isinstance(pids, int) else pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in figures:
                figures[name] += int(value.split()[0])
    return figures


@contextlib.contextmanager
def running_stack(options: StackOptions | None = None, say: Any = print) -> Iterator[Bench]:
    """Start a stack on free ports in a temporary folder; stop it and delete the folder after."""
    options = options or StackOptions()
    data_dir = Path(tempfile.mkdtemp(prefix="aftersales-bench-"))
    temporal_port, ui_port, api_port, sandbox_port = free_ports(4)
    stack = DevStack(
        data_dir=data_dir,
        policy=options.policy,
        temporal_port=temporal_port,
        ui_port=ui_port,
        api_port=api_port,
        sandbox_port=sandbox_port,
        say=lambda text: None,
        sqlite_pragmas=tuple(options.sqlite_pragmas),
        dynamic_config=tuple(options.dynamic_config),
        sandbox_state_file=False,
        worker_module="bench.worker",
        extra_env=dict(options.worker_env),
        workers=options.workers,
    )
    try:
        stack.start()
        yield Bench(stack, options)
    finally:
        stack.stop()
        if options.keep_data:
            say(f"  (data kept in {data_dir})")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


async def wait_for_payouts(sandbox: httpx.AsyncClient, count: int, within: float, poll: float = 0.2) -> float:
    """Wait until the provider has recorded ``count`` payouts since its last reset; return when
    (``time.monotonic()``) the count was first seen. Raise ``TimeoutError`` with the count reached."""
    deadline = time.monotonic() + within
    recorded = 0
    while time.monotonic() < deadline:
        try:
            answer = await sandbox.get("/payments/faults")
        except httpx.TransportError:  # e.g. a kept-alive connection the sandbox closed meanwhile
            await asyncio.sleep(poll)
            continue
        recorded = answer.json()["counters"]["recorded"]
        if recorded >= count:
            return time.monotonic()
        await asyncio.sleep(poll)
    raise TimeoutError(f"{recorded} of {count} payouts recorded after {within:.0f}s")


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by the nearest-rank method; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "min": min(values) if values else 0.0,
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else 0.0,
        "mean": statistics.fmean(values) if values else 0.0,
    }


def cpu_seconds(pids: int | Iterable[int]) -> float:
    """User + system CPU time the process(es) used so far (all threads; summed over processes)."""
    ticks = 0
    for pid in [pids] if isinstance(pids, int) else pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


async def run_bounded(jobs: Iterable[Callable[[], Awaitable[Any]]], concurrency: int) -> None:
    """Run every job (a function that makes the awaitable), at most ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(one(job) for job in jobs))
