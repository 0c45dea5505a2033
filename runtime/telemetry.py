"""Metrics and tracing for every process: the SDK's Prometheus endpoint and OpenTelemetry.

Metrics. A worker serves the Temporal SDK's own metrics (task slots, schedule-to-start latency,
poll results, sticky cache, ...) and ours, recorded from activities (``activity.metric_meter()``)
and workflows (``workflow.metric_meter()``, replay-safe), on ``AFTERSALES_WORKER_METRICS``
(``host:port``, path ``/metrics``). The SDK prefixes its own series with ``temporal_``; ours are
named ``aftersales_*`` (:data:`SERIES` lists every one, and docs/production.md what each means).

Tracing (``AFTERSALES_TRACING=true``, the ``tracing`` extra): the SDK's ``TracingInterceptor`` on
the client (and so on the worker built from it), FastAPI's instrumentation on the API; spans
go to the OTLP endpoint the standard ``OTEL_EXPORTER_OTLP_*`` variables name.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from temporalio.client import Interceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput
from temporalio.worker import Interceptor as WorkerInterceptor

from runtime import logs
from runtime.settings import Settings

log = logging.getLogger(__name__)

#: Our series and what each counts (the SDK's are documented by Temporal: "SDK metrics").
SERIES: dict[str, str] = {
    "aftersales_cases_opened_total": "cases opened through the API, by type (API)",
    "aftersales_automatic_actions_total": "actions the engine took because a deadline ran out, by deadline kind "
    "(worker)",
    "aftersales_payouts_total": "payout attempts that ended, by outcome: paid, already_paid, refused, failed "
    "(worker)",
    "aftersales_payout_amount_total": "minor units paid out, by currency and outcome paid|already_paid (worker)",
    "aftersales_payout_failures_total": "payout attempts that failed, by kind: refused (permanent), unavailable "
    "(retried) (worker)",
    "aftersales_notifications_failed_total": "notification attempts that failed, by kind (worker)",
    "aftersales_event_deliveries_failed_total": "outbound event deliveries that failed (worker, once events exist)",
    "aftersales_needs_attention_entered_total": "cases that went to needs_attention, by the step that failed "
    "(worker)",
    "aftersales_cases_needs_attention": "cases now in needs_attention (API, a visibility count, cached)",
    "aftersales_http_request_duration_seconds": "API request latency, by method, route template and status (API)",
}

_runtimes: dict[str, Runtime] = {}


def worker_runtime(settings: Settings) -> Runtime | None:
    """The SDK runtime that serves the worker's Prometheus metrics on ``AFTERSALES_WORKER_METRICS``,
    or None (the SDK's default runtime, no metrics endpoint) when that is not set. One per address
    and process: a runtime owns its endpoint, so a second one there would fail to bind."""
    address = settings.worker_metrics_address
    if not address:
        return None
    if address not in _runtimes:
        try:
            _runtimes[address] = Runtime(
                telemetry=TelemetryConfig(
                    # The names Temporal's own Grafana dashboards and docs use: counters end in
                    # _total, durations are in seconds and say so (..._latency_seconds_bucket).
                    metrics=PrometheusConfig(
                        bind_address=address, counters_total_suffix=True, unit_suffix=True, durations_as_seconds=True
                    )
                )
            )
        except Exception as err:  # the SDK's core says why in its message (address in use, bad address)
            raise ValueError(f"AFTERSALES_WORKER_METRICS={address}: cannot serve metrics there: {err}") from None
    return _runtimes[address]


def tracing_interceptors(settings: Settings) -> list[Interceptor]:
    """The SDK's OpenTelemetry ``TracingInterceptor`` when tracing is on, else none."""
    if not settings.tracing:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    # Its tracer follows the global provider, which the process's entry point installs
    # (setup_tracing), so building a client never touches global state.
    return [TracingInterceptor()]


_tracing_ready = False


def setup_tracing(settings: Settings, service_name: str = "aftersales") -> None:
    """Install a global tracer provider exporting over OTLP (once per process; the worker's and
    the API's entry points call it). Needs the ``tracing`` extra; without it, a clear error says
    what to install. ``OTEL_SERVICE_NAME`` overrides ``service_name``."""
    global _tracing_ready
    if _tracing_ready or not settings.tracing:
        return
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as err:
        raise ValueError(
            f"AFTERSALES_TRACING=true needs the tracing extra (pip install 'aftersales[tracing]'): {err}"
        ) from None
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracing_ready = True


def instrument_api(app: Any, settings: Settings, tracer_provider: Any = None) -> None:
    """FastAPI's OpenTelemetry instrumentation on ``app`` when tracing is on (or a provider is
    given, as the tests do)."""
    if not settings.tracing and tracer_provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider, excluded_urls="/metrics,/healthz,/readyz")


class CaseLogContext(WorkerInterceptor):
    """Puts the case id of an activity's input (``PayoutRequest.case_id``, ``Notification.case_id``
    ...) into the log context (``runtime.logs.case_id``) while the activity runs, so every line it
    logs names the case, not only the ones written through ``activity.logger``."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CaseLogContextInbound(next)


class _CaseLogContextInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        case = getattr(input.args[0], "case_id", None) if input.args else None
        token = logs.case_id.set(case if isinstance(case, str) else None)
        try:
            return await self.next.execute_activity(input)
        finally:
            logs.case_id.reset(token)
