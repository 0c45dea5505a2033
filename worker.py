"""The worker: wiring only. Runs the case and order-ledger workflows and their activities.

    python worker.py            # reads TEMPORAL_ADDRESS, PAYMENT_URL, ... (see README)
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Sequence

import httpx
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import CourierActivities, NotificationActivities, PaymentActivities
from activities.parcels import ParcelActivities
from casefeed import dispatch
from casefeed.dispatch import Dispatcher
from casefeed.recording import EventActivities
from casefeed.store import EventStore
from casefeed.subscriptions import apply_config
from runtime.logs import configure_logging
from runtime.settings import Settings
from runtime.telemetry import CaseLogContext, setup_tracing, worker_runtime
from runtime.temporal import connect
from workflows.case import CaseWorkflow
from workflows.order_ledger import OrderLedgerWorkflow
from workflows.parcel import ParcelWorkflow

WORKFLOWS: Sequence[type] = (CaseWorkflow, OrderLedgerWorkflow, ParcelWorkflow)


def build_worker(
    client: Client,
    settings: Settings,
    http: httpx.AsyncClient,
    extra_workflows: Sequence[type] = (),
    events: EventStore | None = None,
) -> Worker:
    """A worker with every workflow and activity of the product, on the settings' task queue
    (``extra_workflows``: the benchmarks' baseline, run by the same worker for a fair comparison;
    ``events``: the event store, else the one ``settings.events_dsn`` names)."""
    recorder = EventActivities(events or EventStore(settings.events_dsn), settings.event_retry_for)
    payments = PaymentActivities(http, settings.payment_url)
    notifications = NotificationActivities(http, settings.notify_url)
    courier = CourierActivities(http, settings.courier_url)
    parcels = ParcelActivities(client, settings.task_queue, settings.parcel_keep_for)
    workflows = [*WORKFLOWS, *extra_workflows]
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=workflows,
        workflow_runner=workflow_runner(settings, workflows),
        activities=[payments.pay_refund, notifications.send_notification, courier.lookup_parcel,
                    recorder.record_events, parcels.claim_parcel],
        interceptors=[CaseLogContext()],
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_workflow_task_polls=settings.workflow_task_pollers,
        max_concurrent_activity_task_polls=settings.activity_task_pollers,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.max_concurrent_activities,
    )


def workflow_runner(settings: Settings, workflows: Sequence[type] = WORKFLOWS) -> WorkflowRunner:
    """How the worker runs workflow code (the replay tests use it too): the SDK's runners only."""
    if not settings.workflow_sandbox:
        return UnsandboxedWorkflowRunner()
    restrictions = SandboxRestrictions.default
    if settings.share_workflow_modules:
        # Our workflow code and the models it uses are deterministic and keep no module state, so
        # one copy serves every run; reloading them in each run's sandbox cost memory and CPU per
        # cached case (README, "Capacity"). The sandbox's runtime checks still apply.
        packages = {w.__module__.split(".")[0] for w in workflows} | {"domain", "activities", "casefeed"}
        restrictions = restrictions.with_passthrough_modules(*sorted(packages))
    return SandboxedWorkflowRunner(restrictions=restrictions)


def tune_garbage_collector(settings: Settings) -> None:
    """Freeze the start-up objects out of garbage collection; log every long collection pause.

    A full collection walks every tracked object and stops the whole worker meanwhile; each
    cached workflow is a couple of hundred objects, so with 2000 cached cases one takes about
    0.4-0.6 s on the benchmark machine, every 10-30 s under load with Python's thresholds.
    Raising the thresholds (``AFTERSALES_GC_THRESHOLDS``) made them rare but let the garbage of
    evicted workflows pile up: 1.5 GiB of worker memory instead of 0.35 at 10,000 open cases,
    and an 8.9 s pause when the collection finally came. So Python's thresholds stay the default;
    the lever is the cache size and the number of worker processes (README, "Capacity"). The
    objects made at start-up (modules, schemas) never die, so they are left out of every
    collection; pauses of at least ``AFTERSALES_GC_LOG_PAUSE`` are logged.
    """
    gc.collect()
    gc.freeze()
    if settings.gc_thresholds:
        gc.set_threshold(*settings.gc_thresholds)
    log = logging.getLogger("worker.gc")
    started = [0.0]
    gc.callbacks[:] = [c for c in gc.callbacks if getattr(c, "__name__", "") != "_log_long_gc_pauses"]

    def _log_long_gc_pauses(phase: str, info: dict[str, int]) -> None:
        # Runs between collections, not inside one; logging's handlers take re-entrant locks.
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        if took >= settings.gc_log_pause_seconds:
            log.info("garbage collection (generation %d) paused the worker for %.0f ms, %d objects freed",
                     info["generation"], took * 1000, info["collected"])

    gc.callbacks.append(_log_long_gc_pauses)


def provider_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one client every activity's provider calls share: pooled keep-alive connections."""
    return httpx.AsyncClient(timeout=settings.http_timeout_seconds)


async def run_worker(settings: Settings | None = None, extra_workflows: Sequence[type] = ()) -> None:
    settings = settings or Settings()
    client = await connect(
        settings.temporal_address, settings.temporal_namespace, settings=settings, runtime=worker_runtime(settings)
    )
    events = EventStore(settings.events_dsn)
    if settings.subscriptions_path:
        apply_config(events, settings.subscriptions_path)
    async with provider_http_client(settings) as http, dispatch.http_client() as outbound:
        worker = build_worker(client, settings, http, extra_workflows, events)
        tune_garbage_collector(settings)
        log = logging.getLogger(__name__)
        log.info("worker on %s, task queue %s", settings.temporal_address, settings.task_queue)
        if settings.worker_metrics_address:
            log.info("metrics at http://%s/metrics", settings.worker_metrics_address)
        # Outbound events are delivered beside the worker, apart from the cases (casefeed.dispatch).
        dispatcher = asyncio.create_task(Dispatcher(events, outbound).run()) if settings.event_dispatch else None
        try:
            await worker.run()
        finally:
            if dispatcher is not None:
                dispatcher.cancel()


def main(extra_workflows: Sequence[type] = ()) -> None:
    try:
        settings = Settings()
    except ValueError as err:
        sys.exit(f"worker: {err}")
    configure_logging(settings)
    try:
        setup_tracing(settings, "aftersales-worker")
        asyncio.run(run_worker(settings, extra_workflows=extra_workflows))
    except KeyboardInterrupt:
        pass
    except ValueError as err:  # a setting that only shows its problem when used (a TLS file, the metrics address)
        sys.exit(f"worker: {err}")


if __name__ == "__main__":
    main()
