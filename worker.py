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

from activities import CourierActivities, NotificationActivities, PaymentActivities
from runtime.settings import Settings
from runtime.temporal import connect
from workflows.case import CaseWorkflow
from workflows.order_ledger import OrderLedgerWorkflow

WORKFLOWS: Sequence[type] = (CaseWorkflow, OrderLedgerWorkflow)


def build_worker(client: Client, settings: Settings, http: httpx.AsyncClient) -> Worker:
    """A worker with every workflow and activity of the product, on the settings' task queue."""
    payments = PaymentActivities(http, settings.payment_url)
    notifications = NotificationActivities(http, settings.notify_url)
    courier = CourierActivities(http, settings.courier_url)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=[payments.pay_refund, notifications.send_notification, courier.lookup_parcel],
        max_cached_workflows=settings.max_cached_workflows,
    )


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    async with httpx.AsyncClient(timeout=settings.http_timeout_seconds) as http:
        worker = build_worker(client, settings, http)
        logging.getLogger(__name__).info(
            "worker on %s, task queue %s", settings.temporal_address, settings.task_queue
        )
        await worker.run()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_worker())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
