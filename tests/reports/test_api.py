"""``GET /v1/reports``, the report page and ``aftersales report`` over real HTTP (uvicorn on a free
port), on synthetic events of two shops: who may read which report, what bad input is told (the
parameter, why, what is allowed), and that the three outputs carry the same figures."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bench.report import write_cases
from cli.main import main as cli
from domain.models import Principal, Role
from http_api import create_app
from runtime.settings import Settings
from tests.support.serve import serve

NOV = datetime(2026, 11, 1, tzinfo=UTC)
PRINCIPALS = {
    "tok-staff": Principal(role=Role.STAFF, id="alice", shop_id="shop-a"),
    "tok-new-staff": Principal(role=Role.STAFF, id="nina", shop_id="shop-new"),
    "tok-platform": Principal(role=Role.PLATFORM, id="arbiter"),
    "tok-operator": Principal(role=Role.OPERATOR, id="oncall"),
    "tok-buyer": Principal(role=Role.BUYER, id="buyer-1"),
}


@dataclass
class Served:
    url: str
    http: httpx.AsyncClient

    async def get(self, path: str, token: str = "tok-staff", **params: str) -> httpx.Response:
        return await self.http.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[Served]:
    dsn = f"sqlite:///{tmp_path}/events.sqlite3"
    write_cases(dsn, "shop-a", 200, NOV, timedelta(days=18))
    write_cases(dsn, "shop-b", 50, NOV, timedelta(days=18), seed=9)
    app = create_app(Settings(AFTERSALES_EVENTS_DSN=dsn), client=object(), tokens=PRINCIPALS)  # type: ignore[arg-type]
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield Served(url, http)


async def test_staff_read_their_shop_and_platform_reads_any_or_all(served):
    mine = await served.get("/v1/reports", **{"from": "2026-11-01", "to": "2026-12-01"})
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["shop_id"] == "shop-a" and body["ended"]["total"] == 200 and body["opened"]["total"] == 200
    assert body["money"][0]["automatic"]["total"] > 0 and body["automatic_actions"]["merchant_decision"] > 0

    b = (await served.get("/v1/reports", "tok-platform", shop_id="shop-b", **{"from": "2026-11-01",
                                                                               "to": "2026-12-01"})).json()
    assert b["ended"]["total"] == 50
    every = (await served.get("/v1/reports", "tok-operator", **{"from": "2026-11-01", "to": "2026-12-01"})).json()
    assert every["shop_id"] is None and every["ended"]["total"] == 250
    assert every["money"][0]["automatic"]["total"] == body["money"][0]["automatic"]["total"] + \
        b["money"][0]["automatic"]["total"]

    # a shop with no cases yet: its own staff get an empty report, not an error
    empty = (await served.get("/v1/reports", "tok-new-staff", **{"from": "2026-11-01", "to": "2026-12-01"})).json()
    assert empty["ended"]["total"] == 0 and empty["money"] == [] and empty["weekly"] == []


@pytest.mark.parametrize(("token", "params", "status", "field", "words"), [
    ("tok-staff", {"shop_id": "shop-b"}, 403, "shop_id", "may not read the report of shop 'shop-b'"),
    ("tok-buyer", {}, 403, None, "the buyer role may not read reports"),
    ("tok-platform", {"shop_id": "shop-zzz"}, 404, "shop_id", "no case of shop 'shop-zzz'"),
    ("tok-platform", {"shop_id": "shop:1"}, 422, "shop_id", "is not a shop id"),
    ("tok-staff", {"from": "2026-12-01", "to": "2026-11-01"}, 422, "to", "'to' must be after 'from'"),
    ("tok-staff", {"from": "2025-01-01", "to": "2026-12-01"}, 422, "to", "at most 366 days"),
    ("tok-staff", {"from": "yesterday"}, 422, "from", "neither a date (YYYY-MM-DD) nor an RFC 3339 time"),
    ("tok-staff", {"to": "2026-12-01T00:00:00"}, 422, "to", "has no offset"),
    ("tok-staff", {"from": "9999-12-31T00:00:00-14:00", "to": "9999-12-31"}, 422, "from", "out of range"),
])
async def test_bad_requests_name_the_parameter(served, token, params, status, field, words):
    query = {"from": "2026-11-01", "to": "2026-12-01", **params}
    answer = await served.get("/v1/reports", token, **query)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert words in body["detail"]
    if field is not None:
        assert body["errors"][0]["field"] == field


async def test_a_missing_period_is_a_422_naming_it(served):
    answer = await served.get("/v1/reports", **{"from": "2026-11-01"})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["to"], answer.json()


@pytest.mark.parametrize(("lang", "header", "words"), [
    ("en", None, ["After-sales report: shop-a", "Paid out per week (CNY)", "merchant decision"]),
    ("zh-CN", None, ["售后报告：shop-a", "每周支付金额（CNY）", "商家处理"]),
    (None, "zh-CN,zh;q=0.9", ["售后报告：shop-a"]),
    (None, "en-GB,en;q=0.8", ["After-sales report: shop-a"]),
])
async def test_the_page_has_both_charts_in_the_readers_language(served, lang, header, words):
    params = {"from": "2026-11-01", "to": "2026-12-01"} | ({"lang": lang} if lang else {})
    answer = await served.http.get("/v1/reports/page", params=params, headers={
        "Authorization": "Bearer tok-staff", **({"Accept-Language": header} if header else {})})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    for word in words:
        assert word in page
    assert page.count("<svg") == 2
    for start in (i for i in range(len(page)) if page.startswith("<svg", i)):
        ET.fromstring(page[start:page.index("</svg>", start) + len("</svg>")])  # well-formed SVG


async def test_the_page_refuses_a_language_we_do_not_write(served):
    answer = await served.get("/v1/reports/page", lang="fr", **{"from": "2026-11-01", "to": "2026-12-01"})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "lang"


async def test_the_cli_prints_the_same_figures_as_table_json_and_csv(served, capsys):
    base = ["--api-url", served.url, "--token", "tok-staff", "report", "--from", "2026-11-01", "--to", "2026-12-01"]
    api = (await served.get("/v1/reports", **{"from": "2026-11-01", "to": "2026-12-01"})).json()

    assert await asyncio.to_thread(cli, [*base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == api

    assert await asyncio.to_thread(cli, [*base, "--csv", "--lang", "en"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["section", "figure", "value"]
    figures = {(section, label): value for section, label, value in rows[1:]}
    assert figures[("Cases", "ended")] == str(api["ended"]["total"])
    assert figures[("Reminders", "sent")] == str(api["reminders_sent"])
    assert figures[("Deadlines that ran out", "merchant decision")] == str(api["automatic_actions"]["merchant_decision"])

    assert await asyncio.to_thread(cli, [*base, "--lang", "zh-CN"]) == 0
    table = capsys.readouterr().out
    assert "售后报告：shop-a" in table and "超时自动支付" in table

    assert await asyncio.to_thread(cli, [*base[:-4], "--shop", "shop-b", "--from", "2026-11-01",
                                         "--to", "2026-12-01"]) == 1
    assert "error 403: shop_id" in capsys.readouterr().err
