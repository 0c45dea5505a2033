"""The sandbox's database under SIGKILL: whatever was answered (or reported written) before the
kill is there after a restart, and the next record continues the sequence. The event receiver's
accepted events too: the fault harness judges delivery by them across sandbox kills."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from sandbox.store import Store
from tests.sandbox.test_sandbox import message_body, payout_body
from tests.sandbox.test_server import ROOT, free_port

WRITER = textwrap.dedent(
    """
    import sys
    from sandbox.models import Payout
    from sandbox.store import Store

    store = Store.open(sys.argv[1])
    i = len(store.payouts)
    while True:
        i += 1
        store.add_payout(Payout(
            payment_id=f"pay-{i:06d}", idempotency_key=f"k{i}", amount=100, currency="CNY", case_id=f"c{i}",
            order_id="o1", shop_id="shop-1", buyer_id="b1", refund=100, reimbursement=0, lines=[],
            paid_at="2026-01-01T00:00:00+00:00", request_fingerprint="x",
        ))
        print(f"k{i}", flush=True)  # written: the row's transaction has committed
    """
)


def test_store_keeps_every_write_reported_before_a_sigkill(tmp_path: Path):
    db = tmp_path / "sandbox.db"
    reported: list[str] = []
    for _ in range(2):  # twice: the second run appends to what the first left
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None
        reported += [writer.stdout.readline().strip() for _ in range(300)]
        writer.send_signal(signal.SIGKILL)  # mid-loop: between two writes, or inside one
        writer.wait(timeout=10)
        reported += writer.stdout.read().split()
        writer.stdout.close()
        store = Store.open(db)
        try:
            kept = list(store.payouts)
        finally:
            store.close()
        assert set(reported) <= set(kept)
        # Nothing half-written or out of order: keys 1..n, at most one committed but not yet reported.
        assert kept == [f"k{i}" for i in range(1, len(kept) + 1)]
        assert len(kept) - len(reported) <= 1


def spawn_sandbox(port: int, db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port), "--state-file", str(db), "--log-level", "warning"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def started(port: int, db: Path) -> subprocess.Popen[bytes]:
    process = spawn_sandbox(port, db)
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return process
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError("the sandbox did not start")


def event(n: int) -> dict[str, object]:
    return {"id": f"evt_{n}", "type": "case.updated", "case_id": "c-1", "shop_id": "shop-1", "version": n,
            "sequence": n, "occurred_at": "2026-01-01T00:00:00Z", "data": {}}


async def test_receiver_keeps_every_acknowledged_event_across_a_sigkill(tmp_path: Path):
    db, port = tmp_path / "sandbox.db", free_port()
    process = await started(port, db)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for n in (1, 2, 3):
                assert (await http.post("/receiver/events", json=event(n))).status_code == 204
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

        process = await started(port, db)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:  # the old connection died
            assert [e["id"] for e in (await http.get("/receiver/received")).json()["received"]] == [
                "evt_1", "evt_2", "evt_3"]
            # A redelivery after the restart is recognised as one: the ids seen are on file too.
            assert (await http.post("/receiver/events", json=event(3))).status_code == 204
            received = (await http.get("/receiver/received")).json()["received"]
            assert [(e["id"], e["duplicate"]) for e in received][-1] == ("evt_3", True)
    finally:
        process.kill()
        process.wait(timeout=10)


async def test_sandbox_killed_between_two_payouts_keeps_both(tmp_path: Path):
    db = tmp_path / "sandbox.db"
    port = free_port()

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", str(port), "--state-file", str(db), "--log-level", "warning"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start() -> subprocess.Popen[bytes]:
        process = spawn()
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        return process
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        process.kill()
        raise AssertionError("the sandbox did not start")

    async def pay(http: httpx.AsyncClient, key: str) -> httpx.Response:
        return await http.post("/payments/payouts", json=payout_body(key), headers={"Idempotency-Key": key})

    process = await start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            first = await pay(http, "k1")
            await http.post("/notify/messages", json=message_body("m1"))
            await http.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})
            second = await pay(http, "k2")
            assert (first.status_code, second.status_code) == (201, 201)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

            process = await start()
            ledger = (await http.get("/payments/ledger")).json()
            assert [p["payment_id"] for p in ledger["payouts"]] == [first.json()["payment_id"], second.json()["payment_id"]]
            assert (await pay(http, "k2")).json()["replayed"] is True  # never paid twice
            assert (await pay(http, "k3")).json()["payment_id"] == "pay-000003"
            assert (await http.post("/notify/messages", json=message_body("m1"))).json()["duplicate"] is True
            assert (await http.get("/courier/parcels/sf/T1")).json()["status"] == "picked_up"
    finally:
        process.kill()
        process.wait(timeout=10)
