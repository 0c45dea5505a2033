"""The workbench's pages without a case engine: sign-in and its session cookie, CSRF on every form,
the queue in both languages, bad filters, and assets served by the app itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bench.report import write_cases
from casefeed.store import EventStore
from domain.models import Principal, Role
from http_api.app import create_app
from i18n import format_money
from runtime.settings import Settings
from tests.workbench.rows import put

TOKENS = {
    "tok-alice": Principal(role=Role.STAFF, id="alice", shop_id="shop-1"),
    "tok-buyer": Principal(role=Role.BUYER, id="buyer-1"),
}


@pytest.fixture
def dsn(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/events.db"


@pytest.fixture
async def client(dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(AFTERSALES_EVENTS_DSN=dsn), tokens=TOKENS)  # no Temporal: nothing here needs it
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                 headers={"Accept-Language": "en"}) as c:
        yield c


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, token: str = "tok-alice") -> httpx.Response:
    form = await client.get("/workbench/sign-in")
    return await client.post("/workbench/sign-in", data={"csrf": csrf_of(form), "token": token,
                                                         "next": "/workbench/queue"})


async def test_a_token_becomes_an_http_only_session_cookie_and_the_token_is_not_in_it(client) -> None:
    answer = await sign_in(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/workbench/queue"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("wb_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/workbench" in cookie and "tok-alice" not in cookie
    queue = await client.get("/workbench/queue")
    assert queue.status_code == 200 and "alice" in queue.text


async def test_over_https_the_cookie_is_secure(dsn: str) -> None:
    app = create_app(Settings(AFTERSALES_EVENTS_DSN=dsn), tokens=TOKENS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://wb.example") as c:
        answer = await sign_in(c)
    assert "Secure" in answer.headers["set-cookie"]


async def test_sign_in_refuses_a_missing_csrf_token_an_unknown_token_and_a_buyer(client) -> None:
    await client.get("/workbench/sign-in")
    forged = await client.post("/workbench/sign-in", data={"token": "tok-alice"})
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    wrong = await sign_in(client, "nope")
    assert wrong.status_code == 401 and "This token is not valid." in wrong.text and "wb_session" not in wrong.headers.get("set-cookie", "")
    buyer = await sign_in(client, "tok-buyer")
    assert buyer.status_code == 403 and "cannot sign in" in buyer.text


async def test_a_tampered_or_missing_session_goes_back_to_sign_in(client) -> None:
    assert (await client.get("/workbench/queue")).headers["location"].startswith("/workbench/sign-in")
    signed = await sign_in(client)
    value = signed.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    body, mac = value.split(".")
    client.cookies.clear()
    client.cookies.set("wb_session", body[:-2] + "xx." + mac, path="/workbench")
    assert (await client.get("/workbench/queue")).status_code == 303


async def test_an_action_without_the_forms_csrf_token_is_refused_before_anything_is_asked(client) -> None:
    await sign_in(client)
    refused = await client.post("/workbench/cases/c-1/approve", data={"expected_version": "1"})
    assert refused.status_code == 403 and "came from elsewhere" in refused.text
    other_site = await client.post("/workbench/cases/c-1/approve", data={"csrf": "x"},
                                   headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    out = await client.post("/workbench/sign-out", data={})
    assert out.status_code == 403  # signing out is a form too


async def test_the_queue_in_chinese_and_in_english(client, dsn: str) -> None:
    now = datetime.now(UTC)
    put(EventStore(dsn), "c-1", now=now, due_in=timedelta(hours=3, minutes=12, seconds=30))
    await sign_in(client)
    zh = await client.get("/workbench/queue", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-CN">' in zh.text and "等待店铺处理" in zh.text and "质量问题" in zh.text
    assert "后自动退款 ¥199.00" in zh.text and "即将超时" in zh.text
    en = await client.get("/workbench/queue", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Waiting on the shop" in en.text and "auto-refund CN¥199.00 in" in en.text and "3 hr 12 min" in en.text
    switched = await client.get("/workbench/lang", params={"to": "zh-CN", "next": "/workbench/queue"})
    assert switched.headers["location"] == "/workbench/queue"
    assert "等待店铺处理" in (await client.get("/workbench/queue", headers={"Accept-Language": "en"})).text


async def test_a_bad_filter_is_named_next_to_its_field(client) -> None:
    await sign_in(client)
    page = await client.get("/workbench/queue", params={"type": "teleport", "page": "0"},
                            headers={"Accept-Language": "en"})
    assert page.status_code == 422
    assert re.search(r'id="f-type" name="type" aria-invalid="true" aria-describedby="e-type"', page.text)
    assert 'id="e-type" class="error-text">Unknown type: teleport' in page.text


async def test_no_open_redirects_and_every_asset_is_served_here(client) -> None:
    away = await client.get("/workbench/lang", params={"to": "en", "next": "https://evil.example/"})
    assert away.headers["location"] == "/workbench/queue"
    await sign_in(client)
    page = await client.get("/workbench/queue")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/workbench/") or a == "#main" for a in assets), assets
    for path in ("/workbench/static/workbench.css", "/workbench/static/workbench.js"):
        assert (await client.get(path)).status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_the_dev_stack_prints_the_workbenchs_address(tmp_path) -> None:
    from cli.dev import DevStack

    stack = DevStack(data_dir=tmp_path / ".data", api_port=8123, say=lambda _: None)
    assert "workbench     http://127.0.0.1:8123/workbench" in stack.banner()


async def test_the_report_page_shows_the_shops_figures_and_charts_in_both_languages(client, dsn: str) -> None:
    write_cases(dsn, "shop-1", 30, datetime(2026, 11, 2, tzinfo=UTC), timedelta(days=20))
    write_cases(dsn, "shop-2", 10, datetime(2026, 11, 2, tzinfo=UTC), timedelta(days=20), seed=3)
    await sign_in(client)
    page = await client.get("/workbench/reports", params={"from": "2026-11-01", "through": "2026-11-30"})
    assert page.status_code == 200
    api = await client.get("/v1/reports", params={"from": "2026-11-01", "to": "2026-12-01"},
                           headers={"Authorization": "Bearer tok-alice"})
    figures = api.json()
    assert figures["shop_id"] == "shop-1" and figures["opened"]["total"] == 30  # the other shop's cases are not in it
    automatic = figures["money"][0]["automatic"]["total"]
    assert automatic > 0 and format_money(automatic, "CNY", "en") in page.text
    assert page.text.count("<svg") == 2 and 'href="/workbench/reports"' in page.text
    chinese = await client.get("/workbench/reports", params={"from": "2026-11-01", "through": "2026-11-30"},
                               headers={"Accept-Language": "zh-CN"})
    assert "报表" in chinese.text and format_money(automatic, "CNY", "zh-CN") in chinese.text


async def test_a_bad_report_period_is_named_next_to_its_field_and_another_shop_is_refused(client, dsn: str) -> None:
    await sign_in(client)
    bad = await client.get("/workbench/reports", params={"from": "1 Nov", "through": "2026-11-30"})
    assert bad.status_code == 422 and 'id="e-from"' in bad.text and "YYYY-MM-DD" in bad.text
    reversed_ = await client.get("/workbench/reports", params={"from": "2026-11-30", "through": "2026-11-01"})
    assert reversed_.status_code == 422 and 'id="e-through"' in reversed_.text
    huge = await client.get("/workbench/reports", params={"from": "2024-01-01", "through": "2026-11-30"})
    assert huge.status_code == 422 and 'id="e-through"' in huge.text and "366" in huge.text
    other = await client.get("/workbench/reports", params={"shop_id": "shop-2"})
    assert other.status_code == 403 and "shop-2" in other.text and "<svg" not in other.text
