"""The baseline: workflows that make the same Temporal calls as a case, with no domain logic.

A benchmark figure for the product means little alone on a shared 2-core machine; the figure
that matters is the ratio to what Temporal itself costs for the same work, measured in the same
run. These workflows are that "same work":

``BaselineOrder`` (stands for ``OrderLedger``)
    Update ``open(BaselineOpen)`` starts a ``BaselineCase`` child (abandoned, as the ledger
    does); signal ``settled(str)``; the same two idle timers as the ledger (an hour before the
    first case, the keep period after the last one settles).
``BaselineCase`` (stands for ``Case``)
    Plays a script of operations, one per Temporal call a case makes on its happy path
    (:data:`SCRIPTS`, written from the case's code and checked against its histories by
    ``bench.cost``): ``notify`` starts ``send_notification`` without waiting (as cases do),
    ``update`` and ``signal`` wait for the next ``step`` update or ``event`` signal under a
    deadline timer, ``pay`` runs ``pay_refund`` with an idempotency key, ``settle`` signals the
    parent, ``followup`` sleeps until the follow-up and notifies, ``deadline`` waits for a
    command until ``deadline_at`` and goes on when none came. Update ``step`` has a validator,
    as every case command has. No search attributes, no patch, no state beyond a counter.
``BaselineTimer`` (the floor under a deadline: a timer and a payout, nothing else)
    Sleeps until ``fire_at``, then runs ``pay_refund``. The deadline storm's baseline is a
    ``BaselineCase`` with :data:`STORM_SCRIPT`; this one is printed beside it, for reference.

The activities are the product's own (``send_notification``, ``pay_refund``), against the same
sandbox, so the I/O is the same and the difference is the workflow code.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import Notification, PayoutRequest
    from activities.notifications import NotificationActivities
    from activities.payments import PaymentActivities
    from domain.models import BreakdownLine, LineKind, Role

#: The Temporal calls of each case type's happy path, in order (see the module docstring).
SCRIPTS: dict[str, list[str]] = {
    "refund_only": ["notify", "update", "pay", "notify", "settle", "followup"],
    "return_refund": [
        "notify", "update", "notify", "update", "notify", "signal", "notify", "update",
        "pay", "notify", "settle", "followup",
    ],
    "exchange": [
        "notify", "update", "notify", "update", "notify", "signal", "notify", "update",
        "update", "notify", "update", "pay", "notify", "settle", "followup",
    ],
}
SCRIPTS["repair"] = SCRIPTS["exchange"]
#: A refund_only case the merchant ignores (the deadline storm): the decision never comes, its
#: deadline passes, and the case pays, notifies, settles and waits for the follow-up.
STORM_SCRIPT = ["notify", "deadline", "pay", "notify", "settle", "followup"]

#: The deadline each wait runs under (a case's first reminder alarm is a day away too).
WAIT_DEADLINE = timedelta(hours=24)
FOLLOWUP_AFTER = timedelta(days=3)
KEEP_AFTER_SETTLED = timedelta(days=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


class BaselineOpen(BaseModel):
    case_id: str
    case_type: str
    followup_seconds: float | None = None  # default FOLLOWUP_AFTER, as the default policy


class BaselineStep(BaseModel):
    name: str


class BaselineAck(BaseModel):
    case_id: str
    step: int


class BaselineCaseInput(BaseModel):
    case_id: str
    parent_id: str
    script: list[str]
    followup_seconds: float | None = None
    deadline_at: datetime | None = None  # for the ``deadline`` operation


class BaselineTimerInput(BaseModel):
    case_id: str
    fire_at: datetime
    amount: int


def _payout(case_id: str, amount: int, key: str) -> PayoutRequest:
    return PayoutRequest(
        idempotency_key=key, case_id=case_id, order_id=f"o-{case_id}", shop_id="shop-1", buyer_id="buyer-1",
        currency="CNY", refund=amount, reimbursement=0,
        lines=[BreakdownLine(kind=LineKind.ITEMS, amount=amount, note="baseline")],
    )


@workflow.defn(name="BaselineOrder")
class BaselineOrder:
    @workflow.init
    def __init__(self, order_id: str) -> None:
        self._open: set[str] = set()
        self._settled: set[str] = set()

    @workflow.run
    async def run(self, order_id: str) -> int:
        idle = timedelta(hours=1)
        while True:
            try:
                await workflow.wait_condition(lambda: len(self._open) > len(self._settled), timeout=idle)
            except TimeoutError:
                break
            await workflow.wait_condition(lambda: len(self._open) == len(self._settled))
            idle = KEEP_AFTER_SETTLED
        await workflow.wait_condition(workflow.all_handlers_finished)
        return len(self._settled)

    @workflow.update
    async def open(self, data: BaselineOpen) -> str:
        self._open.add(data.case_id)
        child_id = f"baseline-case-{data.case_id}"
        await workflow.start_child_workflow(
            BaselineCase.run,
            BaselineCaseInput(case_id=data.case_id, parent_id=workflow.info().workflow_id,
                              script=SCRIPTS[data.case_type], followup_seconds=data.followup_seconds),
            id=child_id,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
        return child_id

    @workflow.signal
    def settled(self, case_id: str) -> None:
        self._settled.add(case_id)


@workflow.defn(name="BaselineCase")
class BaselineCase:
    @workflow.init
    def __init__(self, data: BaselineCaseInput) -> None:
        self._data = data
        self._updates = 0
        self._signals = 0
        self._consumed = 0  # updates and signals the script has waited for so far
        self._position = 0
        self._pending: list[asyncio.Task[Any]] = []

    @workflow.run
    async def run(self, data: BaselineCaseInput) -> int:
        for self._position, op in enumerate(data.script):
            if op == "notify":
                self._notify()
            elif op in ("update", "signal"):
                # A command may arrive before the script gets to it (as with a case): then no wait.
                await workflow.wait_condition(lambda: self._updates + self._signals > self._consumed,
                                              timeout=WAIT_DEADLINE)
                self._consumed += 1
            elif op == "deadline":
                assert data.deadline_at is not None
                wait = max(data.deadline_at - workflow.now(), timedelta(milliseconds=1))
                try:
                    await workflow.wait_condition(lambda: self._updates + self._signals > self._consumed, timeout=wait)
                except TimeoutError:
                    pass
            elif op == "pay":
                await workflow.execute_activity_method(
                    PaymentActivities.pay_refund, _payout(data.case_id, 1000, f"baseline:{data.case_id}:payout:0"),
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY)
            elif op == "settle":
                parent = workflow.get_external_workflow_handle(data.parent_id)
                self._pending.append(asyncio.ensure_future(parent.signal("settled", data.case_id)))
            elif op == "followup":
                followup = data.followup_seconds
                await workflow.sleep(timedelta(seconds=followup) if followup is not None else FOLLOWUP_AFTER)
                self._notify()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._pending, return_exceptions=True)
        return self._updates + self._signals

    def _notify(self) -> None:
        n = Notification(dedupe_key=f"baseline:{self._data.case_id}:{self._position}", case_id=self._data.case_id,
                         shop_id="shop-1", recipient_role=Role.BUYER, recipient_id="buyer-1", kind="baseline",
                         message="baseline")
        self._pending.append(workflow.start_activity_method(
            NotificationActivities.send_notification, n, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RETRY))

    @workflow.update
    def step(self, step: BaselineStep) -> BaselineAck:
        self._updates += 1
        return BaselineAck(case_id=self._data.case_id, step=self._position)

    @step.validator
    def _validate_step(self, step: BaselineStep) -> None:
        if self._updates >= self._data.script.count("update"):
            raise ApplicationError(f"all {self._updates} updates of the script were received", non_retryable=True)

    @workflow.signal
    def event(self, name: str) -> None:
        self._signals += 1


@workflow.defn(name="BaselineTimer")
class BaselineTimer:
    @workflow.run
    async def run(self, data: BaselineTimerInput) -> str:
        await workflow.sleep(max(data.fire_at - workflow.now(), timedelta(milliseconds=1)))
        result = await workflow.execute_activity_method(
            PaymentActivities.pay_refund, _payout(data.case_id, data.amount, f"baseline:{data.case_id}:payout:0"),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY)
        return result.payment_id


BASELINE_WORKFLOWS: tuple[type, ...] = (BaselineOrder, BaselineCase, BaselineTimer)
