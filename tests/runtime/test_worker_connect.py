"""A worker started before Temporal is up waits for it (compose, a cluster restart) and says why;
one pointed at a server that never comes gives up after AFTERSALES_CONNECT_WAIT with the address."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.testing import WorkflowEnvironment

from cli.dev import free_ports
from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER, dev_server_args, temporal_cli_path
from worker import connect_when_up


async def test_a_worker_gives_up_after_the_wait_and_names_the_address() -> None:
    (port,) = free_ports(1)
    settings = Settings(TEMPORAL_ADDRESS=f"127.0.0.1:{port}", AFTERSALES_CONNECT_WAIT=1.5)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=rf"cannot reach Temporal at 127\.0\.0\.1:{port} after 1\.5 s"):
        await connect_when_up(settings)
    assert 1.4 < time.monotonic() - started < 10


async def test_a_worker_started_before_the_server_connects_once_it_is_up(caplog: pytest.LogCaptureFixture) -> None:
    (port,) = free_ports(1)
    settings = Settings(TEMPORAL_ADDRESS=f"127.0.0.1:{port}", AFTERSALES_CONNECT_WAIT=120)
    caplog.set_level(logging.WARNING, logger="worker")
    connecting = asyncio.ensure_future(connect_when_up(settings))
    await asyncio.sleep(2.5)
    assert not connecting.done()  # still trying, not exited
    assert f"cannot reach Temporal at 127.0.0.1:{port} yet" in caplog.text
    env = await WorkflowEnvironment.start_local(
        port=port, dev_server_existing_path=temporal_cli_path(), data_converter=DATA_CONVERTER, ui=False,
        dev_server_extra_args=dev_server_args(), dev_server_log_level="error")
    async with env:
        client = await asyncio.wait_for(connecting, timeout=60)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version
