"""The workbench's staff queue with many open cases: how long the page takes to render.

Fills a throwaway event store's ``cases`` read model with ``cases`` open cases of one shop (and a
quarter as many of another shop, plus ended cases, so the indexes have something to skip), builds
the API app on it, signs a staff member in and requests queue pages through the app in this
process (``httpx.ASGITransport``: the whole request, routing to HTML, without a network).
No Temporal: a queue is read from the read model only.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from casefeed.store import EventStore, ts
from domain.models import Principal, Role

SHOP = "shop-bench"
TOKEN = "bench-staff"
OPEN_STATES = (("awaiting_merchant_decision", "merchant_decision", 70), ("awaiting_inspection", "merchant_inspection", 15),
               ("awaiting_merchant_shipment", "merchant_shipment", 10), ("needs_attention", "needs_attention_followup", 5))
TYPES = ("refund_only", "return_refund", "exchange", "repair")
REASONS = ("quality_issue", "not_as_described", "wrong_item", "no_reason", "changed_mind", "out_of_stock")



def pages(cases: int) -> tuple[tuple[str, str], ...]:
    """The pages requested: (name, path and query). The deep page is page 200 (or the last)."""
    deep = max(1, min(200, cases // 50))
    return (
        ("first page", "/workbench/queue"),
        ("filtered", "/workbench/queue?type=return_refund&reason=quality_issue&dispute_risk=no"),
        (f"page {deep}", f"/workbench/queue?page={deep}"),
    )


def fill(dsn: str, cases: int, seed: int = 7) -> None:
    """Write ``cases`` open cases of ``SHOP`` waiting on the merchant (deadlines over the next 5 days),
    ``cases // 4`` of another shop and ``cases // 4`` ended ones, straight into the read model."""
    EventStore(dsn).close()  # the schema and its indexes
    rng = random.Random(seed)
    now = datetime.now(UTC)
    weights = [w for _, _, w in OPEN_STATES]

    def row(shop: str, n: int, ended: bool) -> tuple[object, ...]:
        state, kind, _ = rng.choices(OPEN_STATES, weights)[0]
        deadline = now + timedelta(seconds=rng.uniform(-600, 5 * 86400))
        return (f"case:{shop}:c-{n}", f"c-{n}", shop, "buyer-1", f"o-{n}", rng.choice(TYPES), rng.choice(REASONS),
                "refunded" if ended else state, None if ended else "merchant", None if ended else ts(deadline),
                None if ended else kind, int(rng.random() < 0.1), None, "CNY", rng.randrange(1_000, 200_000), 3,
                ts(now), n)

    rows = [row(SHOP, n, False) for n in range(cases)]
    rows += [row("shop-other", n, False) for n in range(cases // 4)]
    rows += [row(SHOP, cases + n, True) for n in range(cases // 4)]
    db = sqlite3.connect(dsn.removeprefix("sqlite:///"))
    with db:
        db.executemany("INSERT INTO cases (case_key, case_id, shop_id, buyer_id, order_id, type, reason, state,"
                       " waiting_on, deadline, deadline_kind, dispute_risk, close_reason, currency, refund_amount,"
                       " version, updated_at, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       rows)
    db.close()


@dataclass
class PageTimes:
    name: str
    ms: list[float]
    cpu_ms: float  # this process's CPU time per render (what the page costs, whatever the machine's load)

    def p(self, q: float) -> float:
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.ms)


async def measure(cases: int, requests: int) -> tuple[list[PageTimes], float]:
    """Per page, the times of ``requests`` renders (after a few to warm up); and the fill time."""
    from http_api.app import create_app
    from runtime.settings import Settings

    with tempfile.TemporaryDirectory(prefix="aftersales-bench-queue-") as folder:
        dsn = f"sqlite:///{Path(folder) / 'events.db'}"
        started = time.perf_counter()
        fill(dsn, cases)
        filled = time.perf_counter() - started
        app = create_app(Settings(AFTERSALES_EVENTS_DSN=dsn),
                         tokens={TOKEN: Principal(role=Role.STAFF, id="bench", shop_id=SHOP)})
        results = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                     headers={"Accept-Language": "zh-CN"}) as client:
            form = await client.get("/workbench/sign-in")
            csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            signed = await client.post("/workbench/sign-in", data={"csrf": csrf, "token": TOKEN})
            assert signed.status_code == 303, signed.text
            for name, path in pages(cases):
                times = []
                cpu_started = 0.0
                for n in range(requests + 5):
                    if n == 5:
                        cpu_started = time.process_time()
                    started = time.perf_counter()
                    answer = await client.get(path)
                    took = (time.perf_counter() - started) * 1000
                    if answer.status_code != 200 or (cases >= 100 and "c-" not in answer.text):
                        raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")
                    if n >= 5:
                        times.append(took)
                results.append(PageTimes(name, times, (time.process_time() - cpu_started) * 1000 / requests))
    return results, filled
