"""Cost per case: history events and bytes of each type's happy path, against the baseline.

Cases run one after another (so no two share a workflow task by chance) under a policy whose
satisfaction follow-up comes after two seconds, so each case's history is complete: opened,
driven, paid, followed up, closed. Before each command or courier event both sides wait until
their workflows are idle (no workflow task or activity pending), as a case is when staff act
hours apart: otherwise whether a command lands in the same workflow task as a notice's
completion is down to timing, and that moved a type's count by up to 5 events from run to run.
The order ledger's history (and the baseline order's) counts too: it is part of what a case
costs. Also checked: the baseline makes the same Temporal calls
(updates, signals, activities, timers, child starts, external signals) as the case.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

from temporalio.client import Client

from bench.cases import CASE_TYPES, SHOP, baseline_ids, drive_baseline, drive_case
from bench.history import EXTRA_CALLS, HistoryCost, history_cost
from bench.stack import Bench
from workflows.ids import case_workflow_id, order_ledger_id

FOLLOWUP = timedelta(seconds=2)
POLICY_TOML = '[deadlines]\nsatisfaction_followup = "2s"\n'


def write_policy(folder: Path) -> Path:
    path = folder / "bench-cost-policy.toml"
    path.write_text(POLICY_TOML, encoding="utf-8")
    return path


@dataclass
class TypeCost:
    case_type: str
    samples: int
    ours: HistoryCost  # mean per case, case + ledger
    ours_case: HistoryCost  # mean per case, the case workflow alone
    baseline: HistoryCost
    baseline_case: HistoryCost

    @property
    def event_ratio(self) -> float:
        return self.ours.events / self.baseline.events

    def calls_match(self) -> bool:
        """Same updates, signals, activities, child starts and external signals. Timers are left
        out: on both sides a deadline timer that a command overtakes within the same workflow
        task is never sent, so their count moves with timing by one or two. The calls of outbound
        events and durable parcels (``EXTRA_CALLS``) are left out too: the baseline has neither, so
        they are those features' cost (and the number of event records moves with coalescing)."""
        ours, base = self.ours.calls(), self.baseline.calls()
        for kind in ("timers", *EXTRA_CALLS):
            ours.pop(kind)
            base.pop(kind)
        return ours == base


def _mean(costs: list[HistoryCost]) -> HistoryCost:
    total = sum(costs, HistoryCost())
    n = len(costs)
    by_type = total.by_type.copy()
    for key in by_type:
        by_type[key] = round(by_type[key] / n)
    return HistoryCost(round(total.events / n), round(total.payload_bytes / n), round(total.history_bytes / n),
                       by_type)


async def idle(client: Client, *workflow_ids: str, within: float = 30.0) -> None:
    """Wait until none of the workflows has a workflow task or an activity pending."""
    deadline = time.monotonic() + within
    for workflow_id in workflow_ids:
        while True:
            raw = (await client.get_workflow_handle(workflow_id).describe()).raw_description
            if not raw.HasField("pending_workflow_task") and not raw.pending_activities:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{workflow_id} still busy after {within:.0f}s")
            await asyncio.sleep(0.05)


async def measure(bench: Bench, samples: int = 3, case_types: tuple[str, ...] = CASE_TYPES) -> list[TypeCost]:
    """``bench`` must run with :func:`write_policy`'s policy (follow-up after 2 s)."""
    service = await bench.service()
    client, queue = service.client, service.task_queue
    run = uuid.uuid4().hex[:8]
    results = []
    for case_type in case_types:
        ours, ours_case, base, base_case = [], [], [], []
        for i in range(samples):
            case_id = f"c{run}-{case_type[:3]}-{i}"
            ledger_id = order_ledger_id(SHOP, f"o-{case_id}")
            await drive_case(service, case_id, case_type,
                             between=partial(idle, client, ledger_id, case_workflow_id(SHOP, case_id)))
            await client.get_workflow_handle(case_workflow_id(SHOP, case_id)).result()
            await asyncio.sleep(0.5)  # the ledger's last task (the settlement signal) may still run
            case = await history_cost(client, case_workflow_id(SHOP, case_id))
            ledger = await history_cost(client, ledger_id)
            ours.append(case + ledger)
            ours_case.append(case)

            order_id, child_id = baseline_ids(case_id)
            await drive_baseline(client, queue, case_id, case_type, followup=FOLLOWUP,
                                 between=partial(idle, client, order_id, child_id))
            await client.get_workflow_handle(child_id).result()
            await asyncio.sleep(0.5)
            child = await history_cost(client, child_id)
            parent = await history_cost(client, order_id)
            base.append(child + parent)
            base_case.append(child)
        results.append(TypeCost(case_type, samples, _mean(ours), _mean(ours_case), _mean(base), _mean(base_case)))
    return results
