"""The dev server as the dev stack runs it: its arguments, and that its dynamic config takes effect
(the dev server ignores a key it does not know, so only the server itself can tell)."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from cli.dev import free_ports
from runtime.temporal import DATA_CONVERTER, DEV_SERVER_DYNAMIC_CONFIG, dev_server_args, temporal_cli_path
from workflows import search_attributes as sa

REFRESH = "system.forceSearchAttributesCacheRefreshOnRead"


def dynamic_config(args: list[str]) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == "--dynamic-config-value"]


def test_the_dev_server_gets_every_case_search_attribute_and_the_products_dynamic_config() -> None:
    args = dev_server_args()
    registered = {args[i + 1] for i, arg in enumerate(args) if arg == "--search-attribute"}
    assert {item.partition("=")[0] for item in registered} == {key.name for key in sa.ALL}
    assert dynamic_config(args) == [f"{REFRESH}=false"] == list(DEV_SERVER_DYNAMIC_CONFIG)


def test_a_given_dynamic_config_value_adds_a_key_or_replaces_ours_and_each_key_is_passed_once() -> None:
    args = dev_server_args([f"{REFRESH}=true", "limit.maxIDLength=100"])
    assert dynamic_config(args) == [f"{REFRESH}=true", "limit.maxIDLength=100"]


async def metadata_reads(extra: list[str], starts: int = 10) -> float:
    """Start workflows with case search attributes on a fresh dev server; return how many times
    its services read the cluster metadata (where the attribute definitions live) meanwhile."""
    (metrics_port,) = free_ports(1)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(), data_converter=DATA_CONVERTER, ui=False,
        dev_server_extra_args=[*dev_server_args(extra), "--metrics-port", str(metrics_port)],
        dev_server_log_level="error",
    )

    def reads() -> float:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        return sum(float(m.group(1)) for m in re.finditer(
            r'^persistence_requests\{[^}]*operation="GetCurrentClusterMetadata"[^}]*\} (\S+)$', text, re.M))

    async with env:
        attributes = TypedSearchAttributes([SearchAttributePair(sa.CASE_STATE, "awaiting_merchant_decision"),
                                            SearchAttributePair(sa.SHOP_ID, "shop-1")])
        for _ in range(starts):
            await env.client.start_workflow("NotRunHere", id=f"sa-cache-{uuid.uuid4()}", task_queue="nobody-polls",
                                            search_attributes=attributes)
        # The server publishes its metrics about once a second: wait until the count settles.
        count, settled = reads(), 0
        while settled < 3:
            await asyncio.sleep(0.5)
            count, previous = reads(), count
            settled = settled + 1 if count == previous else 0
        return count


async def test_the_dev_server_answers_search_attributes_from_its_cache() -> None:
    # The CLI's own default reads the definitions from the database at every start (at least once
    # per start); ours fills each service's cache once. Both run here, so a renamed or ignored
    # key fails the test rather than passing unseen.
    assert await metadata_reads([]) <= 3
    assert await metadata_reads([f"{REFRESH}=true"]) >= 10
