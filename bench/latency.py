"""Command latency: staff ``approve`` over HTTP at a steady rate, with concurrent clients.

First ``rate * duration`` ``refund_only`` cases are opened (through the engine, not timed). Then
approvals are sent on a fixed schedule (one every ``1/rate`` seconds, open loop: a slow answer
does not delay the next request) by ``clients`` concurrent HTTP clients, each with its own
connection to the API. Latency is measured from the request's scheduled time, so time spent
waiting for a free client counts (no coordinated omission). An approval pays the refund too,
so the payouts load the stack while it is measured, as they would in production.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass
from functools import partial

import httpx

from bench import open_cases
from bench.cases import SYSTEM, case_request
from bench.stack import Bench, cpu_seconds, run_bounded, summary
from cli.dev import token_for

OPEN_CONCURRENCY = 50


@dataclass
class Latency:
    rate: float  # asked, commands per second
    held: float  # achieved: answered commands per second over the run
    clients: int
    commands: int
    errors: int
    ms: dict[str, float]  # p50, p99, max, mean
    cores: dict[str, float]  # CPU cores each process kept busy while it was measured (load = this one)


async def measure(bench: Bench, rate: float = 20.0, duration: float = 60.0, clients: int = 8) -> Latency:
    service = await bench.service()
    async with bench.sandbox() as sandbox:
        await sandbox.post("/reset")  # count this run's notices only
    count = int(rate * duration)
    run = uuid.uuid4().hex[:8]
    ids = [f"l{run}-{i:05d}" for i in range(count)]
    await run_bounded(
        [partial(service.open_case, case_request(c, "refund_only"), SYSTEM) for c in ids], OPEN_CONCURRENCY
    )
    # Opening as fast as possible leaves a backlog (first tasks, notices, visibility): measure
    # commands at a steady state, after every case has run its first task, plus a quiet spell.
    await open_cases.wait_for_first_tasks(bench, count, within=300)
    await asyncio.sleep(10)

    tokens = json.loads(bench.stack.tokens_path.read_text(encoding="utf-8"))
    headers = {"Authorization": f"Bearer {token_for(tokens, 'alice', 'staff')}"}
    queue: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
    start = time.monotonic() + 0.5
    for i, case_id in enumerate(ids):
        queue.put_nowait((start + i / rate, case_id))
    latencies: list[float] = []
    errors = 0
    last_answer = start

    async def client_loop() -> None:
        nonlocal errors, last_answer
        async with httpx.AsyncClient(base_url=bench.stack.api_url, headers=headers, timeout=30,
                                     limits=httpx.Limits(max_connections=1)) as http:
            while not queue.empty():
                due, case_id = queue.get_nowait()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                answer = await http.post(f"/v1/cases/{case_id}/approve", json={})
                done = time.monotonic()
                last_answer = max(last_answer, done)
                if answer.status_code != 200:
                    errors += 1
                latencies.append((done - due) * 1000)

    # Which process the CPU goes to while commands are measured: the stack shares the machine.
    pids = {c.name: c.process.pid for c in bench.stack.children if c.process is not None}
    pids["load"] = os.getpid()
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    wall0 = time.monotonic()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    wall = time.monotonic() - wall0
    cpu = {name: (cpu_seconds(pid) - cpu0[name]) for name, pid in pids.items()}
    held = count / (last_answer - start)
    cores = {name: used / wall for name, used in cpu.items()}
    return Latency(rate, held, clients, count, errors, summary(latencies), cores)
