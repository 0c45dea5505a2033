"""A provider stand-in for one test: answers with the given handler and keeps every request."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class RecordingProvider:
    answer: Callable[[httpx.Request], httpx.Response]
    requests: list[httpx.Request] = field(default_factory=list)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self._handle))

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in order."""
        return [(r.method, r.url.path) for r in self.requests]

    def body(self, index: int) -> dict[str, Any]:
        return json.loads(self.requests[index].content)


def answer_with(status: int, body: Any = None, **kwargs: Any) -> Callable[[httpx.Request], httpx.Response]:
    """A handler that always answers the same."""
    if body is None:
        return lambda request: httpx.Response(status, **kwargs)
    return lambda request: httpx.Response(status, json=body, **kwargs)


def refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)
