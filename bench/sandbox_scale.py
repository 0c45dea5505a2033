"""The provider sandbox at scale: does it stay responsive with 10,000 cases' worth of records?

    python -m bench.sandbox_scale --sizes 1000,10000
    python -m bench.sandbox_scale --sizes 1000,10000 --sandbox-root /tmp/old --state-file-name sandbox.json

For each size N: a state file holding N cases' worth of records (per case what the pipeline
writes: one payout, four messages, one parcel) is written through the sandbox's own store in a
child process, then ``python -m sandbox`` starts on it and the figures are taken over HTTP:
``--cases`` more cases written from ``--concurrency`` clients at once (each: a payout, four
messages, a parcel registered and advanced twice) while a probe asks ``/healthz`` every 50 ms
(its worst wait is how long the event loop was blocked); reads by key and by case; and the time
to answer again after a SIGKILL, with every record still there. ``--sandbox-root`` runs another
version's ``sandbox`` package (e.g. ``git archive <commit> sandbox | tar -x -C /tmp/old``).
Figures, not a test: nothing here asserts a speed.
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


PREFILL = """
import sys
from sandbox.models import Message, Parcel, Payout
from sandbox.store import Store

store, n = Store.open(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    case_id = f"pre-{i:06d}"
    payout = Payout(
        payment_id=f"pay-{i + 1:06d}", idempotency_key=f"aftersales:{case_id}:payout:1", amount=10000,
        currency="CNY", case_id=case_id, order_id=f"o-{i}", shop_id="shop-1", buyer_id="buyer-1", refund=10000,
        reimbursement=0, lines=[], paid_at="2026-01-01T00:00:00+00:00", request_fingerprint="x",
    )
    messages = [
        Message(dedupe_key=f"{case_id}:m{m}", case_id=case_id, shop_id="shop-1", recipient_role="buyer",
                recipient_id="buyer-1", kind="state_changed", message="your case moved on",
                message_id=f"msg-{4 * i + m + 1:06d}", received_at="2026-01-01T00:00:00+00:00")
        for m in range(4)
    ]
    parcel = Parcel(carrier="sf", tracking_number=f"P{i:06d}", status="delivered",
                    occurred_at="2026-01-01T00:00:00+00:00")
    if hasattr(store, "add_payout"):  # one row each
        store.add_payout(payout)
        for message in messages:
            store.add_message(message)
        store.put_parcel(parcel)
    else:  # the JSON store: fill memory, write the file once
        store.payouts[payout.idempotency_key] = payout
        for message in messages:
            store.messages.append(message)
            store.message_keys[message.dedupe_key] = message.message_id
        store.parcels[("sf", parcel.tracking_number)] = parcel
if not hasattr(store, "add_payout"):
    store.save()
"""


class Bench:
    def __init__(self, size: int, cases: int, concurrency: int, sandbox_root: Path, state_file: Path) -> None:
        self.size = size
        self.cases = cases
        self.concurrency = concurrency
        self.sandbox_root = sandbox_root
        self.state_file = state_file
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, "PYTHONPATH": str(sandbox_root)}

    def prefill(self) -> float:
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", PREFILL, str(self.state_file), str(self.size)],
            cwd=self.sandbox_root, env=self.env, check=True,
        )  # fmt: skip
        return time.perf_counter() - began

    def spawn(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", str(self.port), "--state-file", str(self.state_file),
             "--log-level", "warning"],
            cwd=self.sandbox_root, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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
        prefill = self.prefill()
        self.spawn()
        try:
            await self._measure(prefill)
        finally:
            if self.process is not None:
                self.process.kill()
                self.process.wait()

    async def _measure(self, prefill: float) -> None:
        limits = httpx.Limits(max_connections=self.concurrency + 2)
        async with httpx.AsyncClient(base_url=self.url, timeout=120, limits=limits) as http:
            start_up = await self.wait_up(http)
            print(f"--- {self.size} cases on file ({self._size() / 1e6:.1f} MB, written in {prefill:.1f}s); "
                  f"sandbox from {self.sandbox_root}; answering {start_up:.2f}s after start")
            probe_waits: list[float] = []
            stop = asyncio.Event()
            probe = asyncio.create_task(self._probe(http, probe_waits, stop))
            latencies: dict[str, list[float]] = defaultdict(list)
            queue = iter(range(self.cases))
            t0 = time.perf_counter()
            await asyncio.gather(*(self._client(http, queue, latencies) for _ in range(self.concurrency)))
            elapsed = time.perf_counter() - t0
            stop.set()
            await probe
            writes = sum(len(v) for v in latencies.values())
            print(f"writes: {self.cases} more cases, {writes} writes in {elapsed:.1f}s ({writes / elapsed:.0f}/s, "
                  f"{self.concurrency} clients); /healthz probe p50 {_ms(_pct(probe_waits, 0.5))} ms, "
                  f"worst {_ms(max(probe_waits, default=0.0))} ms")
            for kind, values in latencies.items():
                print(f"  {kind:18s} p50 {_ms(_pct(values, 0.5))} ms   p99 {_ms(_pct(values, 0.99))} ms")
            await self._reads(http)

            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.spawn()
            restart = await self.wait_up(http)
            ledger = (await http.get("/payments/ledger")).json()
            inbox = (await http.get("/notify/messages", params={"limit": 0})).json()
            parcels = (await http.get("/courier/parcels")).json()
            total = self.size + self.cases
            print(
                f"after SIGKILL: answering again in {restart:.2f}s with {ledger['count']} payouts, "
                f"{inbox['count']} messages, {parcels['count']} parcels (expected {total}, {4 * total}, {total})"
            )

    async def _client(self, http: httpx.AsyncClient, queue: Any, latencies: dict[str, list[float]]) -> None:
        for i in queue:
            case_id = f"bench-{i:06d}"
            key = f"aftersales:{case_id}:payout:1"
            body = {
                "idempotency_key": key, "case_id": case_id, "order_id": f"o-{i}", "shop_id": "shop-1",
                "buyer_id": "buyer-1", "currency": "CNY", "refund": 10_000, "reimbursement": 0,
                "lines": [{"kind": "items", "amount": 10_000, "note": ""}],
            }  # fmt: skip
            await self._timed(latencies, "write payout", http.post("/payments/payouts", json=body))
            for n in range(4):
                message = {
                    "dedupe_key": f"{case_id}:m{n}", "case_id": case_id, "shop_id": "shop-1",
                    "recipient_role": "buyer", "recipient_id": "buyer-1", "kind": "state_changed",
                    "message": "your case moved on",
                }  # fmt: skip
                await self._timed(latencies, "write message", http.post("/notify/messages", json=message))
            parcel = {"carrier": "sf", "tracking_number": f"T{i:06d}"}
            await self._timed(latencies, "write parcel", http.post("/courier/parcels", json=parcel))
            for _ in range(2):
                await self._timed(latencies, "write parcel", http.post(f"/courier/parcels/sf/T{i:06d}/advance"))

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
        step = max(1, self.size // 100)
        for i in range(0, self.size, step):
            case_id = f"pre-{i:06d}"
            for kind, path, params in (
                ("read payout by key", f"/payments/payouts/aftersales:{case_id}:payout:1", None),
                ("read case ledger", "/payments/ledger", {"case_id": case_id}),
                ("read case inbox", "/notify/messages", {"case_id": case_id}),
                ("read parcel", f"/courier/parcels/sf/P{i:06d}", None),
            ):
                t0 = time.perf_counter()
                response = await http.get(path, params=params)
                reads[kind].append(time.perf_counter() - t0)
                response.raise_for_status()
        for kind, values in reads.items():
            print(f"  {kind:18s} p50 {_ms(statistics.median(values))} ms   p99 {_ms(_pct(values, 0.99))} ms")

    def _size(self) -> int:
        return sum(p.stat().st_size for p in self.state_file.parent.iterdir() if p.name.startswith(self.state_file.name))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="cases on file before measuring, comma-separated")
    parser.add_argument("--cases", type=int, default=300, help="cases written over HTTP at each size")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sandbox-root", type=Path, default=ROOT, help="the directory holding the sandbox package")
    parser.add_argument("--state-file-name", default="sandbox.db")
    args = parser.parse_args(argv)
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
            state_file = Path(tmp) / args.state_file_name
            bench = Bench(size, args.cases, args.concurrency, args.sandbox_root.resolve(), state_file)
            asyncio.run(bench.run())


if __name__ == "__main__":
    main()
