"""The API while the Temporal dev server is down: reads still answer (the case as last recorded,
from the event store); opens and commands answer 503 with ``Retry-After`` (never a 500), with
``may_have_applied`` telling a client to read the case before retrying; and when the server is
back, the same API process answers again by itself.
A real stack (``cli.dev.DevStack``: dev server, worker, API, sandbox as processes)."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.dev import DevStack, start_on_free_ports, token_for, write_demo_tokens
from faults.scripts import make_script

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240), pytest.mark.usefixtures("own_event_store")]


def test_api_answers_503_while_the_dev_server_is_down_and_recovers_by_itself(tmp_path: Path) -> None:
    stacks: list[DevStack] = []

    def make(ports: list[int]) -> DevStack:
        temporal_port, ui_port, api_port, sandbox_port = ports
        stacks.append(DevStack(data_dir=tmp_path, temporal_port=temporal_port, ui_port=ui_port, api_port=api_port,
                               sandbox_port=sandbox_port, startup_timeout=120.0, say=lambda _: None))
        return stacks[-1]

    try:
        stack = start_on_free_ports(make)
        asyncio.run(_outage(stack))
    finally:
        stacks[-1].stop(grace=5.0)


async def _outage(stack: DevStack) -> None:
    tokens = write_demo_tokens(stack.tokens_path)

    def auth(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(tokens, who)}"}

    script = make_script("refund_approve", "outage-0001", random.Random(1))
    second = make_script("refund_approve", "outage-0002", random.Random(2))
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        opened = await api.post("/v1/cases", json=script.request, headers=auth("shop-backend"))
        assert opened.status_code == 201, opened.text

        temporal = next(c for c in stack.children if c.name == "temporal")
        temporal.signal(signal.SIGKILL)
        assert temporal.process is not None
        await asyncio.to_thread(temporal.process.wait)

        # A read, an open and a command, twice: the open and the command each wait out the API's
        # Temporal client's retry window (about 8 s) before their 503, so they are sent together.
        answers: list[httpx.Response] = []
        for _ in range(2):
            # A read needs no Temporal: the case as the worker last recorded it (event store).
            read = await api.get(f"/v1/cases/{script.ref}", headers=auth("oncall"))
            assert read.status_code == 200, read.text
            assert read.json()["version"] == opened.json()["version"]
            answers += await asyncio.gather(
                api.post("/v1/cases", json=second.request, headers=auth("shop-backend")),
                api.post(f"/v1/cases/{script.ref}/approve", json={}, headers=auth("alice")),
            )
        assert [a.status_code for a in answers] == [503] * len(answers), [(a.status_code, a.text) for a in answers]
        for a in answers:
            assert a.headers["Retry-After"].isdigit(), a.headers
            assert "retry" in a.json()["detail"]
        assert [a.json()["may_have_applied"] for a in answers[:2]] == [True, True]
        assert (await api.get("/readyz")).status_code == 503
        api_process = next(c for c in stack.children if c.name == "api")
        assert api_process.exited() is None  # the API stays up through the outage

        temporal.start(stack.env())  # the same database file, the same port
        await _eventually(lambda: api.get("/readyz"), 90)
        view = await _eventually(lambda: api.get(f"/v1/cases/{script.ref}", headers=auth("oncall")), 10)
        assert view["state"] == "awaiting_merchant_decision"
        # Nothing applied during the outage: the command is retried and applied once.
        approved = await api.post(
            f"/v1/cases/{script.ref}/approve", json={"expected_version": view["version"]}, headers=auth("alice")
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["version"] == view["version"] + 1


async def _eventually(call: Any, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            last = await call()
        except httpx.HTTPError:
            last = None
        if last is not None and last.status_code == 200:
            return dict(last.json())
        assert last is None or last.status_code in (503, 504), (last.status_code, last.text)
        await asyncio.sleep(0.5)
    raise AssertionError(f"the API did not recover within {within}s; last answer {last and last.text}")
