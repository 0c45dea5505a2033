"""``workflows.metrics``: counters from workflow code reach the worker's Prometheus endpoint once
per event, even when the workflow is replayed (no cache: every task replays from the start)."""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta

import httpx
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from runtime import temporal
from runtime.settings import Settings
from runtime.telemetry import worker_runtime
from tests.api.test_metrics import sample
from workflows import metrics


@workflow.defn(sandboxed=False)
class DeadlinesRunOut:
    @workflow.run
    async def run(self) -> None:
        metrics.count_automatic_action("merchant_decision_deadline")
        await workflow.sleep(timedelta(hours=72))  # a new workflow task, which replays the first
        metrics.count_automatic_action("merchant_decision_deadline")
        await workflow.sleep(timedelta(days=7))
        metrics.count_automatic_action("buyer_confirmation_deadline")
        metrics.count_needs_attention("payout")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_workflow_counters_count_each_event_once():
    address = f"127.0.0.1:{free_port()}"
    runtime = worker_runtime(Settings(AFTERSALES_WORKER_METRICS=address))
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal.test_server_path(), data_converter=temporal.DATA_CONVERTER, runtime=runtime
    ) as env:
        queue = f"wf-metrics-{uuid.uuid4().hex[:6]}"
        async with Worker(env.client, task_queue=queue, workflows=[DeadlinesRunOut], max_cached_workflows=0):
            await env.client.execute_workflow(DeadlinesRunOut.run, id=f"wf-{uuid.uuid4().hex[:6]}", task_queue=queue)
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(f"http://{address}/metrics")).text
    series = "aftersales_automatic_actions_total"
    assert sample(text, series, deadline="merchant_decision_deadline", workflow_type="DeadlinesRunOut") == 2
    assert sample(text, series, deadline="buyer_confirmation_deadline") == 1
    assert sample(text, "aftersales_needs_attention_entered_total", step="payout") == 1
