"""A deadline reminder reaches the provider sandbox's inbox in the shop's language: time passes on
the time-skipping server, the case workflow's reminder timer fires, the real notification activity
words the notice and posts it to the real sandbox app (through ``httpx.ASGITransport``)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.models import CaseRequest
from domain.policy import Policy
from i18n import format_datetime
from runtime.cases import CaseService
from runtime.settings import Settings
from sandbox import create_app
from tests.support.factory import SYSTEM, request
from worker import build_worker
from workflows.ids import CaseRef

HOUR = timedelta(hours=1)
CJK = re.compile(r"[\u4e00-\u9fff]")
SHOPS_FILE = """
[shops."shop-en"]
locale = "en"
"""


class Inbox:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def wait_for(self, count: int, **filters: str) -> list[dict[str, Any]]:
        """The messages matching ``filters`` once there are ``count`` (the activity runs after the timer)."""
        for _ in range(200):
            answer = (await self.http.get("http://sandbox/notify/messages", params=filters)).json()
            if answer["count"] >= count:
                return answer["messages"]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {count} messages for {filters}: {answer}")


@pytest.fixture
async def stack(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[tuple[CaseService, Inbox]]:
    shops = tmp_path / "shops.toml"
    shops.write_text(SHOPS_FILE, encoding="utf-8")
    sandbox = create_app()
    settings = Settings(AFTERSALES_TASK_QUEUE="notices-test", AFTERSALES_SHOPS=str(shops),
                        PAYMENT_URL="http://sandbox/payments", COURIER_URL="http://sandbox/courier",
                        NOTIFY_URL="http://sandbox/notify")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox)) as http:
        async with build_worker(env.client, settings, http):
            yield CaseService(env.client, settings.task_queue, Policy()), Inbox(http)
    await sandbox.state.sandbox.aclose()


def in_shop(req: CaseRequest, shop_id: str) -> CaseRequest:
    return req.model_copy(update={"order": req.order.model_copy(update={"shop_id": shop_id})})


async def test_a_reminder_reaches_a_chinese_shop_in_chinese_and_an_english_shop_in_english(env, stack):
    service, inbox = stack
    now = await env.get_current_time()
    unshipped = {"shipped": False}
    await service.open_case(request(now, "nt-zh", type="refund_only", reason="changed_mind",
                                    order_kwargs=unshipped), SYSTEM)
    await service.open_case(in_shop(request(now, "nt-en", type="refund_only", reason="changed_mind",
                                            order_kwargs=unshipped), "shop-en"), SYSTEM)
    zh_view = await service.view(CaseRef("shop-1", "nt-zh"))
    en_view = await service.view(CaseRef("shop-en", "nt-en"))
    assert zh_view.deadline is not None and en_view.deadline is not None

    # 72 h to decide; the shop is reminded 24 h before: let 49 h pass.
    await env.sleep(49 * HOUR)

    [zh] = await inbox.wait_for(1, case_id="nt-zh", kind="reminder", recipient_role="staff")
    assert zh["locale"] == "zh-CN"
    assert zh["title"] == "提醒：商家处理将在1天后到期"
    assert zh["message"] == (f"售后单 nt-zh：商家处理的截止时间为 {format_datetime(zh_view.deadline, 'zh-CN')}。"
                             "届时无人处理将：自动同意并退款。涉及金额：¥100.00。")
    assert zh["params"]["amount"] == 10_000 and zh["params"]["currency"] == "CNY"

    [en] = await inbox.wait_for(1, case_id="nt-en", kind="reminder", recipient_role="staff")
    assert en["locale"] == "en"
    assert en["title"] == "Reminder: merchant decision due in 1 day"
    assert en["message"] == (f"Case nt-en: the merchant decision deadline is {format_datetime(en_view.deadline, 'en')}. "
                             "If nobody acts by then: auto-approve and refund. Amount: CN¥100.00.")

    # The notice of the new case, sent at once, read the same way; nothing else is English in zh.
    everything_zh = await inbox.wait_for(2, case_id="nt-zh")
    assert {m["kind"] for m in everything_zh} == {"case_opened", "reminder"}
    assert all(m["locale"] == "zh-CN" and CJK.search(m["title"]) and CJK.search(m["message"]) for m in everything_zh)
    everything_en = await inbox.wait_for(2, case_id="nt-en")
    assert all(m["locale"] == "en" and not CJK.search(m["title"] + m["message"]) for m in everything_en)
