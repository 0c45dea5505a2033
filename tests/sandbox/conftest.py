"""Fixtures for the provider sandbox: the app behind ``httpx.ASGITransport``, a webhook receiver
that captures pushes through ``httpx.MockTransport``, and a real uvicorn server when a test needs
sockets (dropped connections, client timeouts, ``python -m sandbox``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sandbox import Sandbox, create_app
from tests.support.serve import serve  # noqa: F401 - re-exported for the sandbox tests

SECRET = "test-secret"
WEBHOOK_URL = "http://api.test/v1/courier/events"


@dataclass
class WebhookReceiver:
    """Captures the courier's pushes; answers with ``statuses`` in turn (then 202)."""

    requests: list[httpx.Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 202
        return httpx.Response(status, json={"accepted": status < 300})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


def sandbox_of(app: FastAPI) -> Sandbox:
    return app.state.sandbox


@pytest.fixture
def receiver() -> WebhookReceiver:
    return WebhookReceiver()


@pytest.fixture
async def make_app(receiver: WebhookReceiver) -> AsyncIterator[Callable[..., FastAPI]]:
    """Build sandbox apps (webhook captured by ``receiver`` unless overridden); closed afterwards."""
    apps: list[FastAPI] = []

    def make(**kwargs: Any) -> FastAPI:
        kwargs.setdefault("webhook_url", WEBHOOK_URL)
        kwargs.setdefault("webhook_secret", SECRET)
        kwargs.setdefault("webhook_transport", receiver.transport())
        app = create_app(**kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await sandbox_of(app).aclose()


@pytest.fixture
async def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c
