"""Fixtures for the provider sandbox: the app behind ``httpx.ASGITransport``, a webhook receiver
that captures pushes through ``httpx.MockTransport``, and a real uvicorn server when a test needs
sockets (dropped connections, client timeouts, ``python -m sandbox``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from sandbox import Sandbox, create_app

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


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free local port (lifespan included); yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
