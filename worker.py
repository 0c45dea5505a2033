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
from temporalio.runtime import Runtime
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import CourierActivities, NotificationActivities, PaymentActivities
from activities.parcels import ParcelActivities
from activities.reports import ReportActivities
from casefeed import dispatch
from casefeed.dispatch import Dispatcher
from casefeed.recording import EventActivities
from casefeed.store import EventStore
from casefeed.subscriptions import apply_config
from reports.schedule import ensure_weekly_schedule
from runtime.logs import configure_logging
from runtime.settings import Settings
from runtime.telemetry import CaseLogContext, setup_tracing, worker_runtime
from runtime.temporal import connect
from workflows.case import CaseWorkflow
from workflows.order_ledger import OrderLedgerWorkflow
from workflows.parcel import ParcelWorkflow
from workflows.weekly_report import WeeklyReportsWorkflow

WORKFLOWS: Sequence[type] = (CaseWorkflow, OrderLedgerWorkflow, ParcelWorkflow, WeeklyReportsWorkflow)


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
    notifications = NotificationActivities(http, settings.notify_url, settings.readers)
    courier = CourierActivities(http, settings.courier_url)
    parcels = ParcelActivities(client, settings.task_queue, settings.parcel_keep_for)
    reports = ReportActivities(settings.events_dsn, settings.readers)
    workflows = [*WORKFLOWS, *extra_workflows]
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=workflows,
        workflow_runner=workflow_runner(settings, workflows),
        activities=[payments.pay_refund, notifications.send_notification, courier.lookup_parcel,
                    recorder.record_events, parcels.claim_parcel, reports.report_shops,
                    reports.build_shop_report_notice],
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


async def connect_when_up(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Connect to Temporal, retrying with backoff (1 s doubling to 15 s) for up to
    ``AFTERSALES_CONNECT_WAIT`` seconds, so a worker started beside a server that is still coming
    up (compose, a cluster restart) waits for it instead of exiting; each failure is logged with
    the address and why. Raises ``ConnectionError`` once the wait is over."""
    log = logging.getLogger(__name__)
    give_up = time.monotonic() + settings.connect_wait_seconds
    pause = 1.0
    while True:
        try:
            return await connect(settings.temporal_address, settings.temporal_namespace, settings=settings,
                                 runtime=runtime)
        except RuntimeError as err:  # the SDK's "Failed client connect: ..."
            left = give_up - time.monotonic()
            if left <= 0:
                raise ConnectionError(
                    f"cannot reach Temporal at {settings.temporal_address} after "
                    f"{settings.connect_wait_seconds:g} s (AFTERSALES_CONNECT_WAIT): {err}") from err
            log.warning("cannot reach Temporal at %s yet (%s); retrying in %.0f s",
                        settings.temporal_address, str(err).split(": ", 1)[-1][:200], min(pause, left))
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 15.0)


async def run_worker(settings: Settings | None = None, extra_workflows: Sequence[type] = ()) -> None:
    settings = settings or Settings()
    client = await connect_when_up(settings, worker_runtime(settings))
    events = EventStore(settings.events_dsn)
    if settings.subscriptions_path:
        apply_config(events, settings.subscriptions_path)
    async with provider_http_client(settings) as http, dispatch.http_client() as outbound:
        worker = build_worker(client, settings, http, extra_workflows, events)
        await ensure_weekly_schedule(client, settings.task_queue)  # idempotent: every worker may
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
    except (ValueError, ConnectionError) as err:  # a setting that only shows its problem when used
        sys.exit(f"worker: {err}")


if __name__ == "__main__":
    main()
