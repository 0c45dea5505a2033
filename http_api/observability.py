"""The API's metrics (``GET /metrics``, Prometheus text) and access log.

One ASGI middleware times every request and labels it with the route *template*
(``/v1/cases/{case_id}/{action}``, never the case id, so the series stay few), the method and the
status; it gives the request an id (the caller's ``X-Request-ID`` if it is a sane one, else a new
one, echoed back in the response) and logs one access line with the ids and the time taken. The
access line never holds a header value or a query string (they may carry tokens).

``/metrics`` also counts the cases in ``needs_attention`` (a visibility count, reused for
``AFTERSALES_METRICS_COUNT_CACHE`` seconds so a scrape every few seconds costs Temporal little).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from runtime import logs
from workflows import search_attributes

access_log = logging.getLogger("aftersales.access")
log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
#: Latency buckets (seconds): commands take tens of milliseconds; an update that waits on a busy
#: worker can take seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NEEDS_ATTENTION_QUERY = f'{search_attributes.CASE_STATE.name} = "needs_attention" AND ExecutionStatus = "Running"'


class ApiMetrics:
    """The API's series, in a registry of its own (one per app, so tests can build several)."""

    def __init__(self, count_cache_seconds: float = 10.0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "aftersales_http_request_duration_seconds",
            "API request latency, by method, route template and status",
            ("method", "route", "status"),
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.cases_opened = Counter(
            "aftersales_cases_opened", "cases opened through the API, by type", ("type",), registry=self.registry
        )
        self.needs_attention = Gauge(
            "aftersales_cases_needs_attention",
            "cases now in needs_attention (a visibility count; -1 when Temporal did not answer)",
            registry=self.registry,
        )
        self.count_cache_seconds = count_cache_seconds
        self._counted_at: float | None = None
        self._lock = asyncio.Lock()

    def case_opened(self, case_type: str) -> None:
        self.cases_opened.labels(type=case_type).inc()

    async def refresh(self, client: Client | None) -> None:
        """Recount the cases in ``needs_attention`` if the last count is older than the cache."""
        if client is None:
            return
        async with self._lock:
            now = time.monotonic()
            if self._counted_at is not None and now - self._counted_at < self.count_cache_seconds:
                return
            try:
                counted = await asyncio.wait_for(client.count_workflows(NEEDS_ATTENTION_QUERY), timeout=5)
                self.needs_attention.set(counted.count)
            except Exception as err:  # noqa: BLE001 - a scrape must not fail because Temporal is slow
                log.warning("could not count the cases in needs_attention: %s", err)
                self.needs_attention.set(-1)
            self._counted_at = now

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObservabilityMiddleware:
    """Request id, latency histogram and access log for every HTTP request (pure ASGI: it adds no
    task or copy of the body)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        request_token = logs.request_id.set(request)
        case_token = logs.case_id.set(None)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            took = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.requests.labels(method=scope["method"], route=route, status=str(status)).observe(took)
            case = (scope.get("path_params") or {}).get("case_id")
            if route != "/metrics":
                access_log.info(
                    "%s %s %d %.1f ms",
                    scope["method"],
                    route,
                    status,
                    took * 1000,
                    extra={"route": route, "method": scope["method"], "status": status,
                           "duration_ms": round(took * 1000, 1), **({"case_id": case} if case else {})},
                )
            logs.case_id.reset(case_token)
            logs.request_id.reset(request_token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            try:
                return str(value.decode("ascii"))
            except UnicodeDecodeError:
                return None
    return None


def metrics_of(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


def count_case_opened(request: Request, case_type: Any) -> None:
    """Count a newly opened case (the open route calls it on ``201``)."""
    metrics_of(request).case_opened(str(getattr(case_type, "value", case_type)))
