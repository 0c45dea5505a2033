"""The worker: wiring only. Runs the case and order-ledger workflows and their activities.

    python worker.py            # reads TEMPORAL_ADDRESS, PAYMENT_URL, ... (see README)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import CourierActivities, NotificationActivities, PaymentActivities
from runtime.settings import Settings
from runtime.temporal import connect
from workflows.case import CaseWorkflow
from workflows.order_ledger import OrderLedgerWorkflow

WORKFLOWS: Sequence[type] = (CaseWorkflow, OrderLedgerWorkflow)


def build_worker(
    client: Client,
    settings: Settings,
    http: httpx.AsyncClient,
    extra_workflows: Sequence[type] = (),
) -> Worker:
    """A worker with every workflow and activity of the product, on the settings' task queue
    (``extra_workflows``: the benchmarks' baseline, run by the same worker for a fair comparison)."""
    payments = PaymentActivities(http, settings.payment_url)
    notifications = NotificationActivities(http, settings.notify_url)
    courier = CourierActivities(http, settings.courier_url)
    workflows = [*WORKFLOWS, *extra_workflows]
    restrictions = SandboxRestrictions.default
    if settings.share_workflow_modules:
        # Our workflow code and the models it uses are deterministic and keep no module state, so
        # one copy serves every run; reloading them in each run's sandbox cost memory and CPU per
        # cached case (README, "Capacity"). The sandbox's runtime checks still apply.
        packages = {w.__module__.split(".")[0] for w in workflows} | {"domain", "activities"}
        restrictions = restrictions.with_passthrough_modules(*sorted(packages))
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=workflows,
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
        activities=[payments.pay_refund, notifications.send_notification, courier.lookup_parcel],
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_workflow_task_polls=settings.workflow_task_pollers,
        max_concurrent_activity_task_polls=settings.activity_task_pollers,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.max_concurrent_activities,
    )


async def run_worker(settings: Settings | None = None, extra_workflows: Sequence[type] = ()) -> None:
    settings = settings or Settings()
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    async with httpx.AsyncClient(timeout=settings.http_timeout_seconds) as http:
        worker = build_worker(client, settings, http, extra_workflows)
        logging.getLogger(__name__).info(
            "worker on %s, task queue %s", settings.temporal_address, settings.task_queue
        )
        await worker.run()


def main(extra_workflows: Sequence[type] = ()) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One INFO line per provider call buried the worker's own messages (and cost time under load).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        asyncio.run(run_worker(extra_workflows=extra_workflows))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
