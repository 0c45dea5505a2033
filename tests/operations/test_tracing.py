"""Tracing: one trace from ``POST /v1/cases/{id}/approve`` through the update into the workflow.

An in-memory span exporter collects what the API (FastAPI's instrumentation), the Temporal
client and the worker (the SDK's ``TracingInterceptor``) record.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk", reason="the tracing extra is not installed")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.contrib.opentelemetry import TracingInterceptor  # noqa: E402

from http_api import create_app  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from tests.api.conftest import PRINCIPALS, case_body, token  # noqa: E402
from tests.support.providers import FakeProviders  # noqa: E402
from tests.support.serve import serve  # noqa: E402
from worker import build_worker  # noqa: E402


@pytest.fixture
async def traced(env, tmp_path) -> AsyncIterator[tuple[httpx.AsyncClient, InMemorySpanExporter, FakeProviders]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = env.client.config()
    config["interceptors"] = [TracingInterceptor(provider.get_tracer("aftersales-test"))]
    client = Client(**config)
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({token(w): p.model_dump(mode="json") for w, p in PRINCIPALS.items()}))
    settings = Settings(AFTERSALES_TASK_QUEUE="traced", AFTERSALES_TOKENS=str(tokens), PAYMENT_URL="http://fake/payments",
                        COURIER_URL="http://fake/courier", NOTIFY_URL="http://fake/notify")
    providers = FakeProviders()
    async with providers.client() as provider_http, build_worker(client, settings, provider_http):
        app = create_app(settings, client=client, tracer_provider=provider)
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield http, exporter, providers
    provider.shutdown()


def named(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{name}: {[s.name for s in spans]}"
    return found[0]


async def finished_with(exporter: InMemorySpanExporter, name: str, within: float = 15) -> tuple[ReadableSpan, ...]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not any(s.name == name for s in exporter.get_finished_spans()):
        assert loop.time() < deadline, f"no {name} span; have {[s.name for s in exporter.get_finished_spans()]}"
        await asyncio.sleep(0.05)
    return exporter.get_finished_spans()


async def test_the_approve_request_leads_to_the_payout(traced):
    """The approve request's trace holds the HTTP span and the client's update call (every command is the case's one ``command`` update); the update's
    handler links to that call and runs in the case's trace, where the payout it caused is
    scheduled and run (the SDK puts a workflow's update and signal handlers in the workflow's
    own trace, linked to the caller's span)."""
    http, exporter, providers = traced
    case = case_body("traced-1", type="refund_only", reason="changed_mind", order_kwargs={"shipped": False})
    opened = await http.post("/v1/cases", json=case, headers={"Authorization": f"Bearer {token('system')}"})
    assert opened.status_code == 201, opened.text
    exporter.clear()
    approved = await http.post("/v1/cases/traced-1/approve", json={},
                               headers={"Authorization": f"Bearer {token('staff')}"})
    assert approved.status_code == 200, approved.text
    spans = await finished_with(exporter, "RunActivity:pay_refund")
    assert providers.paid_for("traced-1")

    request = named(spans, "POST /v1/cases/{case_id}/approve")
    call = named(spans, "StartWorkflowUpdate:command")
    handler = named(spans, "HandleUpdate:command")
    scheduled = named(spans, "StartActivity:pay_refund")
    paid = named(spans, "RunActivity:pay_refund")
    assert request.parent is None and call.context.trace_id == request.context.trace_id
    assert call.parent is not None and call.parent.trace_id == request.context.trace_id
    assert [link.context.span_id for link in handler.links] == [call.context.span_id]
    assert scheduled.context.trace_id == handler.context.trace_id == paid.context.trace_id
    assert paid.parent is not None and paid.parent.span_id == scheduled.context.span_id


def test_tracing_is_off_by_default():
    from runtime.telemetry import tracing_interceptors

    assert tracing_interceptors(Settings()) == []
    assert [type(i).__name__ for i in tracing_interceptors(Settings(AFTERSALES_TRACING="true"))] == ["TracingInterceptor"]
