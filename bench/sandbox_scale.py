"""The provider sandbox at scale: does it stay responsive with 10,000 cases' worth of records?

    python -m bench.sandbox_scale --cases 10000
    python -m bench.sandbox_scale --cases 2000 --sandbox-root /tmp/old   # another version's sandbox/

Starts ``python -m sandbox`` on a free port with a state file in a temporary directory, then
writes, per case, what the pipeline writes (one payout, four messages, a parcel registered and
advanced twice) from ``--concurrency`` clients at once, while a probe asks ``/healthz`` every
50 ms: its latency is how long the sandbox's event loop was busy. Prints, per tenth of the
cases, the write latency (p50/p99) and the probe's worst wait; then read latencies at the full
size, the state file's size, and the time the sandbox takes to start again after a SIGKILL
with every record still there. Figures, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from cli.dev import free_ports

ROOT = Path(__file__).resolve().parents[1]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


class Bench:
    def __init__(self, cases: int, concurrency: int, sandbox_root: Path, state_file: Path) -> None:
        self.cases = cases
        self.concurrency = concurrency
        self.sandbox_root = sandbox_root
        self.state_file = state_file
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(self.sandbox_root)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", str(self.port), "--state-file", str(self.state_file),
             "--log-level", "warning"],
            cwd=self.sandbox_root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def wait_up(self, http: httpx.AsyncClient) -> float:
        began = time.perf_counter()
        while True:
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return time.perf_counter() - began
            except httpx.TransportError:
                pass
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("the sandbox exited")
            await asyncio.sleep(0.02)

    async def run(self) -> None:
        self.spawn()
        limits = httpx.Limits(max_connections=self.concurrency + 2)
        async with httpx.AsyncClient(base_url=self.url, timeout=120, limits=limits) as http:
            await self.wait_up(http)
            print(f"sandbox from {self.sandbox_root}, {self.cases} cases, {self.concurrency} clients at once")
            print("cases    writes/s  payout p50/p99 ms   message p50/p99 ms  parcel p50/p99 ms   loop stall max ms")
            probe_waits: list[float] = []
            stop = asyncio.Event()
            probe = asyncio.create_task(self._probe(http, probe_waits, stop))
            chunk = max(1, self.cases // 10)
            began = time.perf_counter()
            for start in range(0, self.cases, chunk):
                latencies: dict[str, list[float]] = defaultdict(list)
                probe_waits.clear()
                t0 = time.perf_counter()
                queue = iter(range(start, min(start + chunk, self.cases)))
                await asyncio.gather(*(self._client(http, queue, latencies) for _ in range(self.concurrency)))
                elapsed = time.perf_counter() - t0
                writes = sum(len(v) for v in latencies.values())
                print(
                    f"{min(start + chunk, self.cases):6d}  {writes / elapsed:8.0f}   "
                    f"{_ms(_pct(latencies['payout'], 0.5))} {_ms(_pct(latencies['payout'], 0.99))}    "
                    f"{_ms(_pct(latencies['message'], 0.5))} {_ms(_pct(latencies['message'], 0.99))}   "
                    f"{_ms(_pct(latencies['parcel'], 0.5))} {_ms(_pct(latencies['parcel'], 0.99))}   "
                    f"{_ms(max(probe_waits, default=0.0))}"
                )
            total = time.perf_counter() - began
            stop.set()
            await probe
            print(f"filled in {total:.1f}s; state file {self._size() / 1e6:.1f} MB")
            await self._reads(http)

            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.spawn()
            restart = await self.wait_up(http)
            ledger = (await http.get("/payments/ledger")).json()
            inbox = (await http.get("/notify/messages", params={"limit": 0})).json()
            parcels = (await http.get("/courier/parcels")).json()
            print(
                f"after SIGKILL: answering again in {restart:.2f}s with {ledger['count']} payouts, "
                f"{inbox['count']} messages, {parcels['count']} parcels (expected {self.cases}, "
                f"{4 * self.cases}, {self.cases})"
            )
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)

    async def _client(self, http: httpx.AsyncClient, queue: Any, latencies: dict[str, list[float]]) -> None:
        for i in queue:
            case_id = f"bench-{i:06d}"
            key = f"aftersales:{case_id}:payout:1"
            body = {
                "idempotency_key": key, "case_id": case_id, "order_id": f"o-{i}", "shop_id": "shop-1",
                "buyer_id": "buyer-1", "currency": "CNY", "refund": 10_000, "reimbursement": 0,
                "lines": [{"kind": "items", "amount": 10_000, "note": ""}],
            }  # fmt: skip
            await self._timed(latencies, "payout", http.post("/payments/payouts", json=body))
            for n in range(4):
                message = {
                    "dedupe_key": f"{case_id}:m{n}", "case_id": case_id, "shop_id": "shop-1",
                    "recipient_role": "buyer", "recipient_id": "buyer-1", "kind": "state_changed",
                    "message": "your case moved on",
                }  # fmt: skip
                await self._timed(latencies, "message", http.post("/notify/messages", json=message))
            parcel = {"carrier": "sf", "tracking_number": f"T{i:06d}"}
            await self._timed(latencies, "parcel", http.post("/courier/parcels", json=parcel))
            for _ in range(2):
                await self._timed(latencies, "parcel", http.post(f"/courier/parcels/sf/T{i:06d}/advance"))

    async def _timed(self, latencies: dict[str, list[float]], kind: str, call: Any) -> None:
        t0 = time.perf_counter()
        response = await call
        latencies[kind].append(time.perf_counter() - t0)
        if response.status_code >= 300:
            raise RuntimeError(f"{kind}: {response.status_code} {response.text[:200]}")

    async def _probe(self, http: httpx.AsyncClient, waits: list[float], stop: asyncio.Event) -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            await http.get("/healthz")
            waits.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)

    async def _reads(self, http: httpx.AsyncClient) -> None:
        reads: dict[str, list[float]] = defaultdict(list)
        step = max(1, self.cases // 200)
        for i in range(0, self.cases, step):
            case_id = f"bench-{i:06d}"
            for kind, path, params in (
                ("payout by key", f"/payments/payouts/aftersales:{case_id}:payout:1", None),
                ("ledger of a case", "/payments/ledger", {"case_id": case_id}),
                ("inbox of a case", "/notify/messages", {"case_id": case_id}),
                ("parcel", f"/courier/parcels/sf/T{i:06d}", None),
            ):
                t0 = time.perf_counter()
                response = await http.get(path, params=params)
                reads[kind].append(time.perf_counter() - t0)
                response.raise_for_status()
        print(f"reads at {self.cases} cases (one client):")
        for kind, values in reads.items():
            print(
                f"  {kind:18s} p50 {_ms(statistics.median(values))} ms   p99 {_ms(_pct(values, 0.99))} ms   "
                f"({len(values)} reads)"
            )

    def _size(self) -> int:
        return sum(p.stat().st_size for p in self.state_file.parent.iterdir() if p.name.startswith(self.state_file.name))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sandbox-root", type=Path, default=ROOT, help="the directory holding the sandbox package")
    parser.add_argument("--state-file-name", default="sandbox.db")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        bench = Bench(args.cases, args.concurrency, args.sandbox_root.resolve(), Path(tmp) / args.state_file_name)
        asyncio.run(bench.run())


if __name__ == "__main__":
    main()
