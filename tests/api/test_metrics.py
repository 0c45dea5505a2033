"""The worker's and the API's ``/metrics`` after cases run on the dev server.

A worker of its own (its own SDK runtime serving Prometheus on a free port, its own task queue)
runs two refund-only cases: one paid, one whose payout the provider refuses (it goes to
``needs_attention``). Then both endpoints are scraped as Prometheus would.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from http_api import create_app
from runtime.telemetry import SERIES, worker_runtime
from runtime.temporal import connect
from tests.api.conftest import Api, api_settings, uid
from tests.support.providers import FakeProviders
from tests.support.serve import serve
from worker import build_worker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(2))
    return None


@pytest.fixture(scope="module")
async def metered(dev_server: WorkflowEnvironment, tokens_file: str) -> AsyncIterator[tuple[Api, str]]:
    port = free_port()
    settings = api_settings(tokens_file, AFTERSALES_WORKER_METRICS=f"127.0.0.1:{port}", AFTERSALES_METRICS_COUNT_CACHE="0")
    client = await connect(
        dev_server.client.service_client.config.target_host, settings=settings, runtime=worker_runtime(settings)
    )
    providers = FakeProviders()
    async with providers.client() as provider_http, build_worker(client, settings, provider_http):
        app = create_app(settings, client=client)
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield Api(base_url, http, client, providers, settings), f"http://127.0.0.1:{port}/metrics"


async def run_cases(api: Api) -> tuple[str, str]:
    paid, refused = uid("paid"), uid("refused")
    api.providers.refuse_payouts_for.add(refused)
    for case_id in (paid, refused):
        await api.opened(case_id, type="refund_only", reason="changed_mind", order_kwargs={"shipped": False})
        await api.ok(case_id, "approve", "staff")
    await api.wait_for_state(paid, "refunded")
    await api.wait_for_state(refused, "needs_attention")
    return paid, refused


async def test_worker_and_api_metrics_after_cases_run(metered):
    api, worker_metrics = metered
    paid, _ = await run_cases(api)
    amount = sum(p["amount"] for p in api.providers.paid_for(paid))

    async with httpx.AsyncClient(timeout=10) as http:
        worker_text = (await http.get(worker_metrics)).text
        api_response = await api.http.get("/metrics")
    assert api_response.status_code == 200
    assert api_response.headers["content-type"].startswith("text/plain")
    api_text = api_response.text

    # The SDK's own series, the ones the alerts and the dashboard use.
    for name in ("temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
                 "temporal_activity_schedule_to_start_latency_seconds_bucket",
                 "temporal_workflow_task_execution_latency_seconds_bucket",
                 "temporal_worker_task_slots_available"):
        assert sample(worker_text, name) is not None, f"{name} missing from the worker's metrics"
    # Ours, from the activities.
    assert sample(worker_text, "aftersales_payouts_total", outcome="paid", activity_type="pay_refund") == 1
    assert sample(worker_text, "aftersales_payouts_total", outcome="refused") == 1
    assert sample(worker_text, "aftersales_payout_amount_total", outcome="paid", currency="CNY") == amount
    assert sample(worker_text, "aftersales_payout_failures_total", kind="PaymentRefused", retried="false") == 1
    # The case workflow's own: the refused payout stopped its case for a person, once.
    assert sample(worker_text, "aftersales_needs_attention_entered_total", step="payout") == 1

    # The API's: latency by route template (never a case id), cases opened, needs_attention.
    assert sample(api_text, "aftersales_http_request_duration_seconds_count",
                  method="POST", route="/v1/cases/{case_id}/approve", status="200") == 2
    assert sample(api_text, "aftersales_http_request_duration_seconds_count",
                  method="POST", route="/v1/cases", status="201") == 2
    assert paid not in api_text
    assert sample(api_text, "aftersales_cases_opened_total", type="refund_only") == 2
    needs_attention = sample(api_text, "aftersales_cases_needs_attention")
    assert needs_attention is not None and needs_attention >= 1

    # Every series this module names is documented, and every one named for the API is served.
    for name in ("aftersales_http_request_duration_seconds", "aftersales_cases_opened_total",
                 "aftersales_cases_needs_attention"):
        assert name in SERIES and name in api_text


async def test_every_answer_has_a_request_id(metered):
    api, _ = metered
    mine = await api.http.get("/healthz", headers={"X-Request-ID": "req-123"})
    assert mine.headers["x-request-id"] == "req-123"
    made = await api.http.get("/healthz", headers={"X-Request-ID": "bad id; with spaces"})
    assert made.headers["x-request-id"] != "bad id; with spaces" and len(made.headers["x-request-id"]) == 32


async def test_the_worker_entry_point_serves_metrics_where_the_setting_says(dev_server, tokens_file, monkeypatch):
    import worker

    monkeypatch.setattr(worker, "tune_garbage_collector", lambda settings: None)  # not in the test process
    address = f"127.0.0.1:{free_port()}"
    settings = api_settings(tokens_file, AFTERSALES_WORKER_METRICS=address,
                            TEMPORAL_ADDRESS=dev_server.client.service_client.config.target_host)
    running = asyncio.create_task(worker.run_worker(settings))
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(200):
                assert not running.done(), running
                try:
                    text = (await http.get(f"http://{address}/metrics")).text
                except httpx.TransportError:
                    text = ""
                if sample(text, "temporal_worker_task_slots_available", task_queue=settings.task_queue) is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"no worker metrics at {address}")
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
