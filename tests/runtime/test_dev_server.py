"""The dev server as the dev stack runs it: its arguments, that its dynamic config takes effect
(the dev server ignores a key it does not know, so only the server itself can tell), and that the
stack registers case search attributes an older data folder lacks."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
import uuid

import httpx
import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from cli.dev import _temporal_answers, free_ports
from runtime.temporal import (
    DATA_CONVERTER,
    DEV_SERVER_DYNAMIC_CONFIG,
    SEARCH_ATTRIBUTES_REREAD,
    dev_server_args,
    temporal_cli_path,
)
from tests.support.argv import values_of
from workflows import search_attributes as sa


def test_the_dev_server_gets_every_case_search_attribute_and_the_products_dynamic_config() -> None:
    args = dev_server_args()
    registered = values_of(args, "--search-attribute")
    assert {item.partition("=")[0] for item in registered} == {key.name for key in sa.ALL}
    assert values_of(args, "--dynamic-config-value") == [f"{SEARCH_ATTRIBUTES_REREAD}=false"] == list(
        DEV_SERVER_DYNAMIC_CONFIG)


def test_a_given_dynamic_config_value_adds_a_key_or_replaces_ours_and_each_key_is_passed_once() -> None:
    args = dev_server_args([f"{SEARCH_ATTRIBUTES_REREAD}=true", "limit.maxIDLength=100"])
    assert values_of(args, "--dynamic-config-value") == [f"{SEARCH_ATTRIBUTES_REREAD}=true", "limit.maxIDLength=100"]
    # The server reads keys without regard to case: another spelling still replaces ours.
    args = dev_server_args([f"{SEARCH_ATTRIBUTES_REREAD.upper()}=true"])
    assert values_of(args, "--dynamic-config-value") == [f"{SEARCH_ATTRIBUTES_REREAD.upper()}=true"]


async def definition_reads(extra: list[str], first: int = 5, then: int = 20) -> float:
    """Start workflows with case search attributes on a fresh dev server: ``first`` of them, then
    ``then`` more. Return how many times its services read the cluster metadata and the namespace
    (where the attribute definitions and, for SQLite, their columns live) during the ``then``."""
    (metrics_port,) = free_ports(1)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(), data_converter=DATA_CONVERTER, ui=False,
        dev_server_extra_args=[*dev_server_args(extra), "--metrics-port", str(metrics_port)],
        dev_server_log_level="error",
    )

    def reads() -> float:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        return sum(float(m.group(1)) for m in re.finditer(
            r'^persistence_requests\{[^}]*operation="(?:GetCurrentClusterMetadata|GetNamespace)"[^}]*\} (\S+)$',
            text, re.M))

    async def settled() -> float:
        # The server publishes its metrics about once a second: wait until the count stays put.
        count, still, deadline = reads(), 0, time.monotonic() + 30
        while still < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            count, previous = reads(), count
            still = still + 1 if count == previous else 0
        return count

    async with env:
        attributes = TypedSearchAttributes([SearchAttributePair(sa.CASE_STATE, "awaiting_merchant_decision"),
                                            SearchAttributePair(sa.SHOP_ID, "shop-1")])

        async def start(n: int) -> None:
            for _ in range(n):
                await env.client.start_workflow("NotRunHere", id=f"sa-cache-{uuid.uuid4()}",
                                                task_queue="nobody-polls", search_attributes=attributes)

        await start(first)
        before = await settled()
        await start(then)
        return await settled() - before


async def test_the_dev_server_answers_search_attributes_from_its_caches() -> None:
    # Ours: the caches fill during the first starts, and 20 more starts read nothing. The CLI's
    # own default, the control, reads at every start, so a renamed or ignored key fails here.
    # Two servers of their own, measured side by side (each waits for its metrics to settle).
    ours, cli_default = await asyncio.gather(definition_reads([]),
                                             definition_reads([f"{SEARCH_ATTRIBUTES_REREAD}=true"]))
    assert ours == 0
    assert cli_default >= 20


async def test_an_attribute_added_since_the_data_folder_was_made_is_registered_when_the_stack_waits(tmp_path):
    # The server registers --search-attribute only in a new database: a data folder made before
    # an attribute existed never gets it, and cases carrying it would be refused.
    port, ui_port = free_ports(2)
    without = dev_server_args()
    at = without.index(f"{sa.DISPUTE_RISK.name}=Bool")
    without = without[:at - 1] + without[at + 1:]

    def server(args: list[str]) -> subprocess.Popen:
        return subprocess.Popen([temporal_cli_path(), "server", "start-dev", "--db-filename", str(tmp_path / "t.db"),
                                 "--port", str(port), "--ui-port", str(ui_port), *args, "--log-level", "error"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def client() -> Client:
        for _ in range(200):
            with contextlib.suppress(Exception):
                answering = await Client.connect(f"127.0.0.1:{port}", data_converter=DATA_CONVERTER)
                await answering.count_workflows()
                return answering
            await asyncio.sleep(0.1)
        raise AssertionError("the dev server did not answer")

    async def open_with_dispute_risk(c: Client) -> None:
        await c.start_workflow("NotRunHere", id=f"sa-new-{uuid.uuid4()}", task_queue="nobody-polls",
                               search_attributes=TypedSearchAttributes([SearchAttributePair(sa.DISPUTE_RISK, True)]))

    old = server(without)
    try:
        await client()
    finally:
        old.terminate()
        old.wait(10)
    restarted = server(dev_server_args())
    try:
        c = await client()
        with pytest.raises(RPCError, match="no mapping defined for search attribute DisputeRisk"):
            await open_with_dispute_risk(c)
        deadline = time.monotonic() + 40
        while not await _temporal_answers(f"127.0.0.1:{port}"):  # what the dev stack waits on
            assert time.monotonic() < deadline, "the stack's wait never saw the attribute"
            await asyncio.sleep(0.3)
        await open_with_dispute_risk(c)
    finally:
        restarted.terminate()
        restarted.wait(10)
