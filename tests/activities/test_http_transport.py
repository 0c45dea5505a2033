"""The providers' HTTP client searches for no module once it is warm.

httpcore runs ``import sniffio`` four times per request (the pool's per-request event and three
cancellation shields) and falls back to asyncio when the import fails. anyio 4.12 stopped
installing sniffio, and Python does not remember a failed import, so without sniffio every
provider call walked ``sys.path`` four times (about 6 ms of worker CPU per return case,
encode/httpcore#1103). sniffio is therefore a dependency of ours; this test fails if it goes,
or if another lazy import of a missing module joins the request path.

Not ``httpx.MockTransport``, as the other activity tests use: it bypasses httpcore, where the
import happens. The client is the worker's own (``worker.provider_http_client``).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import pytest
from temporalio.testing import ActivityEnvironment

from activities import NotificationActivities
from runtime.settings import Settings
from tests.activities.test_notifications import reminder
from worker import provider_http_client


class _ImportSearches:
    """A finder that records every module search made on this thread and finds nothing (other
    threads, such as a worker another test left running, are not this test's business)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.searched: list[str] = []

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if threading.get_ident() == self.thread:
            self.searched.append(name)
        return None


@pytest.fixture
async def provider_url() -> AsyncIterator[str]:
    """A keep-alive HTTP/1.1 endpoint that answers every request with 200 and ``{}``."""
    handlers: set[asyncio.Task[None]] = set()

    async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass  # the client closed its connection
        finally:
            writer.close()

    server = await asyncio.start_server(answer_ok, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/notify"
    await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), timeout=5)


async def test_warm_provider_calls_search_for_no_module(provider_url: str) -> None:
    searches = _ImportSearches()
    async with provider_http_client(Settings()) as client:
        activities = NotificationActivities(client, provider_url)
        env = ActivityEnvironment()
        await env.run(activities.send_notification, reminder())  # the first call loads what it needs
        sys.meta_path.insert(0, searches)
        try:
            for _ in range(20):
                await env.run(activities.send_notification, reminder())
        finally:
            sys.meta_path.remove(searches)
    assert searches.searched == [], (
        f"{len(searches.searched)} module searches in 20 warm provider calls ({sorted(set(searches.searched))}): "
        "a module imported on every request is missing (sniffio: httpcore then walks sys.path each time)"
    )
