"""The reports' text in zh-CN and en: every msgid the code uses is in both catalogs and zh_CN
translates it; the charts are SVG with the reader's language in them."""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from bench.report import write_cases
from i18n import catalog, untranslated
from reports import charts, html, text
from reports.figures import build
from reports.msgids import msgids
from reports.projector import Projector


@pytest.fixture(scope="module")
def report():
    folder = tempfile.mkdtemp(prefix="report-text-")
    dsn = f"sqlite:///{folder}/events.sqlite3"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    write_cases(dsn, "shop-t", 300, start, timedelta(days=18))
    projector = Projector(dsn)
    try:
        return build(projector, "shop-t", start, start + timedelta(days=30))
    finally:
        projector.close()


def test_zh_cn_translates_every_msgid_and_en_lists_them_all():
    ids = msgids()
    assert len(ids) > 40  # the domain values' names are i18n.words' (tests/i18n/test_words.py)
    assert untranslated("zh-CN", "reports", ids) == []
    assert [m for m in ids if catalog("en", "reports").get(m) is None] == []


def test_the_msgid_list_finds_what_the_code_uses():
    # a word from each place msgids come from: t(...), rows()' sections, the deciders' names
    for msgid in ("After-sales report: {shop}", "Reminders", "closed: {reason}", "a deadline ran out"):
        assert msgid in msgids()


def test_zh_cn_table_has_no_english_label_left(report):
    for section, label, _ in text.rows(report, "zh-CN"):
        assert not any(ch.isascii() and ch.isalpha() for ch in section), section
        assert not any(ch.isascii() and ch.isalpha() for ch in label.replace("CNY", "")), label
    assert "¥" in text.table(report, "zh-CN")
    assert "CN¥" in text.table(report, "en")


@pytest.mark.parametrize(("locale", "title", "bar"), [("en", "Paid out per week (CNY)", "merchant decision"),
                                                      ("zh-CN", "每周支付金额（CNY）", "商家处理")])
def test_charts_are_svg_with_text_in_the_readers_language(report, locale, title, bar):
    weekly = charts.weekly(report, locale)
    kinds = charts.by_deadline(report, locale)
    for svg in (weekly, kinds):
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")
    assert title in weekly  # kept as text (svg.fonttype none): the browser draws it
    assert bar in kinds
    # a bar per deadline kind that ran out, labelled with its count
    for count in report.automatic_actions.values():
        assert f">{count}<" in kinds


def test_the_fragment_escapes_what_it_shows(report):
    odd = report.model_copy(update={"shop_id": "<script>x</script>"})
    fragment = html.render(odd, "en")
    assert "<script>" not in fragment and "&lt;script&gt;" in fragment
    assert fragment.startswith('<section class="aftersales-report" lang="en">')
