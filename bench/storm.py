"""Deadline storm: M cases whose merchant deadline runs out in the same second.

Each is a ``refund_only`` case the merchant ignores: when its deadline passes the engine
auto-approves it and pays the refund. Lateness is the time from the deadline to the provider
recording the payout (its ``paid_at``). The baseline is M ``BaselineCase`` workflows playing
``STORM_SCRIPT``: the same Temporal calls as such a case (a notice at opening, a wait under a
deadline timer, the payout, a notice, the settlement signal, the follow-up timer), with no domain
logic; the run checks that one of ours and one of the baseline's made the same calls. For
reference it also runs M ``BaselineTimer`` workflows (a timer and a payout, nothing after): the
floor that Temporal and the payment provider set on this machine.

So that the deadlines coincide, the cases are started directly with one ``opened_at`` (the
order ledger would stamp each with the moment its update ran, spreading them over the time it
takes to open M cases; opening is measured by the throughput benchmark). Every case is running
and idle before the deadline: the storm is the deadlines alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from bench.baseline import STORM_SCRIPT, BaselineCase, BaselineCaseInput, BaselineTimer, BaselineTimerInput
from bench.cases import SHOP, SYSTEM, case_request
from bench.history import EXTRA_CALLS, history_cost
from bench.stack import Bench, cpu_seconds, run_bounded, summary, wait_for_payouts
from domain.money import computed_refund, grant_for
from domain.policy import Policy
from workflows import search_attributes as sa
from workflows.case import CaseWorkflow
from workflows.ids import case_workflow_id
from workflows.messages import CaseStart

START_CONCURRENCY = 50


@dataclass
class Storm:
    cases: int
    ours: dict[str, float]  # lateness in seconds: p50, p99, max, mean
    baseline: dict[str, float]  # same calls, no domain logic
    floor: dict[str, float]  # a timer and a payout only
    ours_spread: float  # seconds between the first and the last payout
    baseline_spread: float
    floor_spread: float
    ours_calls: dict[str, int]  # the Temporal calls one storm case made, and one baseline case
    baseline_calls: dict[str, int]
    #: CPU seconds (worker, server) each side used from its last start to its last payout.
    cpu: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def p99_ratio(self) -> float:
        return self.ours["p99"] / self.baseline["p99"] if self.baseline["p99"] else float("inf")


async def _lateness(bench: Bench, case_ids: set[str], deadline: datetime, recorded: int,
                    within: float) -> tuple[list[float], float]:
    """Wait until the provider has ``recorded`` payouts, then return the lateness of each of
    ``case_ids``'s payouts and the spread between the first and the last."""
    async with bench.sandbox() as sandbox:
        await wait_for_payouts(sandbox, recorded, within=within, poll=0.5)
        ledger = (await sandbox.get("/payments/ledger")).json()
    paid = [datetime.fromisoformat(p["paid_at"]) for p in ledger["payouts"] if p["case_id"] in case_ids]
    if len(paid) != len(case_ids):
        raise RuntimeError(f"{len(paid)} payouts for {len(case_ids)} storm cases")
    paid.sort()
    return [(t - deadline).total_seconds() for t in paid], (paid[-1] - paid[0]).total_seconds()


async def _phase(bench: Bench, what: str, ids: list[str], start: Callable[[str], Awaitable[Any]],
                 deadline: datetime, recorded: int, lead: float) -> tuple[list[float], float, tuple[float, float]]:
    """Start one side's workflows (``start(case_id)`` for each id), check they were all running
    well before ``deadline``, and return their lateness once the provider has ``recorded``
    payouts in all (the sides run one after the other against the same provider), the spread,
    and the worker's and the server's CPU seconds from the last start to the last payout."""
    await run_bounded([partial(start, case_id) for case_id in ids], START_CONCURRENCY)
    if datetime.now(UTC) > deadline - timedelta(seconds=5):
        raise RuntimeError(f"starting the {what} took longer than the lead time: pass a longer --lead")
    workers, server = bench.worker_pids(), bench.server_pid()
    before = cpu_seconds(workers), cpu_seconds(server)
    lateness, spread = await _lateness(bench, set(ids), deadline, recorded, within=lead + 120 + len(ids) / 5)
    return lateness, spread, (cpu_seconds(workers) - before[0], cpu_seconds(server) - before[1])


async def measure(bench: Bench, cases: int, lead: float | None = None) -> Storm:
    """``lead``: seconds from the start of the run to the deadline (default: enough to start
    every case at a conservative 40 per second, plus 20 s of quiet)."""
    service = await bench.service()
    client, queue = service.client, service.task_queue
    lead = lead if lead is not None else cases / 40 + 20
    run = uuid.uuid4().hex[:8]
    async with bench.sandbox() as sandbox:
        await sandbox.post("/reset")

    # Ours: a policy whose merchant decision window ends exactly at the deadline.
    opened_at = datetime.now(UTC)
    window = f"{int(lead)}s"
    policy = Policy.model_validate({"deadlines": {"merchant_decision_unshipped": window,
                                                  "merchant_decision_shipped": window}})
    deadline = opened_at + timedelta(seconds=int(lead))
    ids = [f"s{run}-{i:05d}" for i in range(cases)]

    def start_case(case_id: str) -> Awaitable[Any]:
        request = case_request(case_id, "refund_only")
        grant = grant_for(request, claimed_before={}, refund_reserved_before=0, shipping_already_refunded=False)
        start = CaseStart(request=request, policy=policy, grant=grant, opened_by=SYSTEM, opened_at=opened_at,
                          ledger_workflow_id=f"storm-no-ledger-{case_id}")
        attributes = sa.at_start(request.type, request.order, deadline)  # as the ledger starts a case
        return client.start_workflow(CaseWorkflow.run, start, id=case_workflow_id(SHOP, case_id), task_queue=queue,
                                     search_attributes=attributes)

    ours, ours_spread, ours_cpu = await _phase(bench, "cases", ids, start_case, deadline, cases, lead)

    # Baseline: the same calls, with deadlines that end in the same second.
    deadline = datetime.now(UTC) + timedelta(seconds=int(lead))
    base_ids = [f"b{run}-{i:05d}" for i in range(cases)]

    def start_baseline(case_id: str) -> Awaitable[Any]:
        data = BaselineCaseInput(case_id=case_id, parent_id=f"storm-no-parent-{case_id}", script=STORM_SCRIPT,
                                 deadline_at=deadline)
        return client.start_workflow(BaselineCase.run, data, id=f"baseline-case-{case_id}", task_queue=queue)

    base, base_spread, base_cpu = await _phase(bench, "baseline", base_ids, start_baseline, deadline, 2 * cases, lead)

    # The floor: a timer and the payout call, nothing else.
    deadline = datetime.now(UTC) + timedelta(seconds=int(lead))
    amount = computed_refund(grant_for(case_request("x", "refund_only"), claimed_before={}, refund_reserved_before=0,
                                       shipping_already_refunded=False))
    floor_ids = [f"f{run}-{i:05d}" for i in range(cases)]

    def start_timer(case_id: str) -> Awaitable[Any]:
        data = BaselineTimerInput(case_id=case_id, fire_at=deadline, amount=amount)
        return client.start_workflow(BaselineTimer.run, data, id=f"baseline-timer-{case_id}", task_queue=queue)

    floor, floor_spread, floor_cpu = await _phase(bench, "timers", floor_ids, start_timer, deadline, 3 * cases, lead)

    # Long after their payouts, both sides' first cases have made every call up to the follow-up.
    # The calls of outbound events and parcels have no baseline counterpart: left out.
    ours_calls = (await history_cost(client, case_workflow_id(SHOP, ids[0]))).calls()
    base_calls = (await history_cost(client, f"baseline-case-{base_ids[0]}")).calls()
    for kind in EXTRA_CALLS:
        ours_calls.pop(kind)
        base_calls.pop(kind)
    return Storm(cases, summary(ours), summary(base), summary(floor), ours_spread, base_spread, floor_spread,
                 ours_calls, base_calls, {"ours": ours_cpu, "baseline": base_cpu, "floor": floor_cpu})
