"""The shared i18n layer: locale negotiation, catalogs and locale-aware formatting."""

from datetime import UTC, datetime, timedelta

import pytest

import i18n


@pytest.mark.parametrize(("header", "expected"), [
    ("en-US,en;q=0.9,zh;q=0.8", "en"),
    ("zh-CN,zh;q=0.9,en;q=0.5", "zh-CN"),
    ("en;q=0.4, zh-Hans;q=0.6", "zh-CN"),
    ("fr-FR, de", "zh-CN"),  # nothing we ship: the default
    ("zh;q=0, en-GB", "en"),  # q=0 means "not this one"
    ("", "zh-CN"),
    (None, "zh-CN"),
])
def test_negotiate_picks_the_best_shipped_locale(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


def test_money_by_locale_from_minor_units() -> None:
    assert i18n.format_money(19900, "CNY", "zh-CN") == "¥199.00"
    assert i18n.format_money(19900, "CNY", "en") == "CN¥199.00"
    assert i18n.format_money(-1050, "CNY", "zh-CN") == "-¥10.50"
    assert i18n.format_money(500, "JPY", "en") == "¥500"  # no minor units: 500 yen, not 5.00


def test_times_in_the_readers_zone_and_durations_in_two_units() -> None:
    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert i18n.format_datetime(at, "zh-CN") == "2026-12-03 16:00"
    assert i18n.format_datetime(at, "en", "Europe/London") == "2026-12-03 08:00"
    assert i18n.format_duration(timedelta(hours=3, minutes=12), "en") == "3 hr 12 min"
    assert i18n.format_duration(timedelta(hours=3, minutes=12), "zh-CN") == "3小时 12分钟"
    assert i18n.format_duration(timedelta(days=2, minutes=5), "en") == "2 days"
    assert i18n.format_duration(timedelta(seconds=-30), "en") == "0 min"
    assert i18n.format_duration(timedelta(days=1, hours=1), "zh") == "1天 1小时"  # any tag normalize() knows
    assert i18n.format_unit_short(7, "duration-day", "en") == "7 days"


def test_catalog_lookup_translates_and_falls_back_to_the_msgid(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "demo.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Refund {amount} approved"\nmsgstr "已同意退款 {amount}"\n\n'
        'msgid "Not yet"\nmsgstr ""\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "CATALOG_DIR", tmp_path)
    i18n.catalog.cache_clear()
    try:
        assert i18n.gettext("zh-CN", "demo", "Refund {amount} approved", amount="¥1.00") == "已同意退款 ¥1.00"
        assert i18n.gettext("en", "demo", "Refund {amount} approved", amount="CN¥1.00") == "Refund CN¥1.00 approved"
        assert i18n.untranslated("zh-CN", "demo", ["Refund {amount} approved", "Not yet", "Unknown"]) == [
            "Not yet", "Unknown"]
    finally:
        i18n.catalog.cache_clear()
