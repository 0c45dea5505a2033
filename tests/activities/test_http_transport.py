"""The providers' HTTP client costs no module search per request.

httpcore asks ``import sniffio`` every time it sets up a lock, an event or a semaphore, that
is several times per request, and falls back to asyncio when the import fails. anyio 4.11
stopped installing sniffio, and Python does not remember a failed import, so without sniffio
each request walked ``sys.path`` again (about 5 % of the worker's busy time under load,
encode/httpcore#1103). sniffio is therefore a dependency of ours; this test fails if it goes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities import Notification, NotificationActivities
from domain.models import Role


class _ImportSearches:
    """A finder that only counts the searches for the modules it watches, and finds nothing."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.searched: list[str] = []

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if name in self.names:
            self.searched.append(name)
        return None


async def _answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A keep-alive HTTP/1.1 endpoint that answers every request with 200 and ``{}``."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def provider_url() -> AsyncIterator[str]:
    server = await asyncio.start_server(_answer_ok, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/notify"


def _notice(n: int) -> Notification:
    return Notification(dedupe_key=f"case-1:notice:{n}", case_id="case-1", shop_id="shop-1",
                        recipient_role=Role.BUYER, recipient_id="buyer-1", kind="status_changed",
                        message="Your case moved on.")


async def test_provider_calls_search_for_no_module_once_warm(provider_url: str) -> None:
    searches = _ImportSearches({"sniffio"})
    async with httpx.AsyncClient(timeout=5) as client:  # the worker's client: default transport, pooled
        activities = NotificationActivities(client, provider_url)
        env = ActivityEnvironment()
        await env.run(activities.send_notification, _notice(0))  # first request: imports are loaded here
        sys.meta_path.insert(0, searches)
        try:
            for n in range(1, 21):
                await env.run(activities.send_notification, _notice(n))
        finally:
            sys.meta_path.remove(searches)
    assert searches.searched == [], (
        f"{len(searches.searched)} module searches in 20 provider calls ({sorted(set(searches.searched))}): "
        "httpcore cannot find sniffio, so every request walks sys.path; install sniffio")
