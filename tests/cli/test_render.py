"""Human output helpers."""

from datetime import UTC, datetime
from typing import Any

from cli import render

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_money_is_shown_in_major_units() -> None:
    assert render.money(11_000, "CNY") == "110.00 CNY"
    assert render.money(-5, "CNY") == "-0.05 CNY"
    assert render.money(500, "JPY") == "500 JPY"
    assert render.money(None, "CNY") == "-"


def test_times_are_relative_to_now() -> None:
    assert render.relative("2030-01-01T14:30:00+00:00", NOW) == "in 2h 30m"
    assert render.relative("2030-01-01T11:59:50Z", NOW) == "10s ago"
    assert render.relative("2030-01-04T13:00:05+00:00", NOW) == "in 3d 1h"
    assert render.relative(None, NOW) == "-"


def test_a_closed_case_says_why_and_that_nothing_is_left() -> None:
    view: dict[str, Any] = {
        "case_id": "c",
        "type": "refund_only",
        "reason": "other",
        "shop_id": "s",
        "buyer_id": "b",
        "state": "closed",
        "close_reason": "buyer_timeout",
        "waiting_on": None,
        "deadline": None,
        "refund": {},
        "version": 9,
        "timeline": [],
        "next_actions": [],
    }
    text = render.case_summary(view, now=NOW)
    assert "state     closed (buyer_timeout)" in text
    assert "deadline" not in text
    assert "next      nothing (case ended)" in text


def test_table_columns_fit_their_widest_cell() -> None:
    assert render.table([["a", "long value"], ["bbb", None]], ["x", "y"]).splitlines() == [
        "x    y",
        "---  ----------",
        "a    long value",
        "bbb  -",
    ]
