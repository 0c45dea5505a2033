"""The HTTP API as a FastAPI app: ``create_app()``; ``python -m http_api`` serves it.

One Temporal client and one ``CaseService`` per app. Without a client given, the app connects
with ``runtime.temporal.connect`` when it starts (the lifespan), so building the app needs no
server. Tokens are read once, when the app is built: a broken tokens file stops it there.
``GET /metrics`` serves the API's Prometheus metrics (``http_api.observability``).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from temporalio.client import Client

import workbench
from casefeed.store import EventStore
from domain.models import CaseRequest, Principal
from http_api import cases, courier, docs_assets, events, problems
from http_api import reports as report_routes
from http_api.auth import JwtVerifier, TokenBook, TokensError, load_tokens
from http_api.bodies import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware
from http_api.context import ApiState, State
from http_api.observability import ApiMetrics, ObservabilityMiddleware
from http_api.schemas import COMMAND_MODELS, CourierEvent, Health
from http_api.visibility import PageTokens
from runtime import logs
from runtime.settings import Settings
from runtime.telemetry import instrument_api
from runtime.temporal import connect

DESCRIPTION = """\
After-sales cases (refund, return, exchange, repair) as durable Temporal workflows.

**Authentication**: `Authorization: Bearer <token>`; tokens map to a role (`system`, `buyer`,
`staff`, `supervisor`, `platform`, `operator`), an id and a shop: a token from the tokens file,
or a JWT from the marketplace's identity provider where one is configured (expired, wrongly
addressed or badly signed JWTs get `401` with the reason). The courier webhook is signed
instead (`X-Signature`).

**Tracing and ids**: every answer carries `X-Request-ID` (yours, if you send one).

**Errors** are JSON `{"detail": ...}` plus fields that help: `errors[{field, message}]` (422),
`state`, `allowed_actions`, `version` (409), `kind` (the engine's refusal kind).
A case the caller may not see answers 404, the same as one that does not exist.
"""

#: Request bodies the routes read themselves, added to the schema's components.
BODY_MODELS: tuple[type[BaseModel], ...] = (CaseRequest, CourierEvent, *COMMAND_MODELS.values())


def _use_our_validation_problem(schema: dict[str, Any]) -> None:
    """FastAPI documents its own 422 shape; ours is ``ValidationProblem`` (``problems.install``)."""
    ours = {"$ref": "#/components/schemas/ValidationProblem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422")
            if answer and "HTTPValidationError" in str(answer):
                answer["description"] = "invalid request; errors name the fields"
                answer["content"] = {"application/json": {"schema": ours}}
    components = schema.get("components", {}).get("schemas", {})
    components.setdefault(
        "ValidationProblem", problems.ValidationProblem.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def create_app(
    settings: Settings | None = None,
    *,
    client: Client | None = None,
    tokens: Mapping[str, Principal] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    tracer_provider: Any = None,
) -> FastAPI:
    """Build the API.

    ``settings``: defaults to ``Settings()`` (environment and ``.env``). ``client``: an existing
    Temporal client (tests); otherwise one is connected at startup. ``tokens``: principals by
    token, instead of reading ``settings.tokens_path``. ``tracer_provider``: trace the API with
    this OpenTelemetry provider (tests); otherwise ``AFTERSALES_TRACING`` decides.
    """
    settings = settings or Settings()
    if tokens is None:
        if settings.tokens_path:
            tokens = load_tokens(settings.tokens_path)
        elif settings.jwt_jwks_url:
            tokens = {}  # JWTs only
        else:
            raise TokensError(
                "AFTERSALES_TOKENS is not set: point it at a JSON file of tokens (see http_api/auth.py), "
                "or set AFTERSALES_JWT_JWKS_URL (with _ISSUER and _AUDIENCE) to accept the identity provider's JWTs"
            )
    _ = settings.policy  # a broken policy file stops the app here, not at the first request
    book = TokenBook(tokens)
    store = EventStore(settings.events_dsn)
    state = ApiState(settings=settings, tokens=book, page_tokens=PageTokens(_page_token_key(settings, book)),
                     store=store)
    if settings.jwt_jwks_url:
        state.jwt = JwtVerifier(settings)
    if client is not None:
        state.connected(client)
    metrics = ApiMetrics(settings.metrics_count_cache_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if state.client is None:
            state.connected(await connect(settings.temporal_address, settings.temporal_namespace, settings=settings))
        yield

    app = FastAPI(
        dependencies=[Depends(_case_in_log_context)],
        title="After-sales API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served offline instead: http_api.docs_assets
        redoc_url=None,
        openapi_tags=[
            {"name": "cases", "description": "open, read, list and act on cases"},
            {"name": "courier", "description": "parcel events pushed by the courier"},
            {"name": "events", "description": "outbound events: catch-up feed, subscriptions, deliveries"},
            {"name": "reports", "description": "what missed deadlines cost each shop: figures and charts"},
            {"name": "health", "description": "liveness and readiness"},
        ],
    )
    app.state.api = state
    app.state.metrics = metrics
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    # Added last, so it is outermost: it times and logs everything, the body limit's answers too.
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    instrument_api(app, settings, tracer_provider)
    problems.install(app)
    docs_assets.install(app)
    app.include_router(cases.router)
    app.include_router(courier.router)
    events.install(app, store)
    report_routes.install(app, settings.events_dsn)
    workbench.install(app)  # the staff console at /workbench (server-rendered, same process)

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness")
    async def healthz(api: State) -> Health:
        return Health(ok=True, temporal="connected" if api.client is not None else "connecting")

    @app.get(
        "/readyz",
        response_model=Health,
        tags=["health"],
        summary="Readiness: Temporal answers",
        responses={503: {"model": Health}},
    )
    async def readyz(api: State) -> Any:
        ready = False
        if api.client is not None:
            try:
                ready = await api.client.service_client.check_health()
            except Exception:  # noqa: BLE001 - any failure means not ready
                ready = False
        health = Health(ok=ready, temporal="serving" if ready else "not serving")
        return health if ready else JSONResponse(health.model_dump(), status_code=503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=False)
    async def prometheus_metrics(api: State) -> Any:
        await metrics.refresh(api.client)
        return metrics.exposition()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            _, definitions = models_json_schema(
                [(m, "validation") for m in BODY_MODELS], ref_template="#/components/schemas/{model}"
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in definitions.get("$defs", {}).items():
                components.setdefault(name, definition)
            _use_our_validation_problem(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _page_token_key(settings: Settings, book: TokenBook) -> bytes:
    """The key that signs the list's page tokens, alike on every replica: derived from the tokens
    file, or ``AFTERSALES_PAGE_TOKEN_KEY`` when there is none (JWTs only)."""
    if settings.page_token_key is not None:
        return hashlib.sha256(b"aftersales page tokens " + settings.page_token_key.get_secret_value().encode()).digest()
    if len(book) == 0:
        raise TokensError(
            "with JWTs only (no AFTERSALES_TOKENS), set AFTERSALES_PAGE_TOKEN_KEY to a secret shared by every API "
            "replica: it signs the list's page tokens"
        )
    return book.derived_key("page tokens")


async def _case_in_log_context(request: Request) -> None:
    """Every log line written while a request about a case is served names the case."""
    case = request.path_params.get("case_id")
    if case:
        logs.case_id.set(case)
