"""``aftersales report``: a shop's after-sales report for a period (``GET /v1/reports``).

    aftersales --as alice report                         # alice's shop, the last 7 days
    aftersales --as oncall report --shop shop-1 --from 2026-11-01 --to 2026-12-01 --csv
    aftersales --as oncall report --from 2026-11-01 --to 2026-12-01 --json   # every shop
"""

from __future__ import annotations

import argparse
import csv
import io
import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from aftersales_client import AfterSalesClient
from i18n import LOCALES, normalize
from reports.figures import Report
from reports.text import rows, table


def add_report_command(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report", parents=[common], help="a shop's report: outcomes, money lost to deadlines, times")
    p.add_argument("--shop", dest="shop_id", metavar="SHOP_ID",
                   help="the shop (staff: theirs by default; platform and operators: every shop if left out)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first day (or RFC 3339 time); default: 7 days before --to")
    p.add_argument("--to", dest="end", metavar="DATE", help="the day after the last (excluded); default: tomorrow (UTC)")
    p.add_argument("--csv", action="store_true", help="section,figure,value rows")
    p.add_argument("--lang", choices=LOCALES, default=None,
                   help="zh-CN or en (default: from $LANG, else en)")


def run_report(args: argparse.Namespace, token: str | None, transport: httpx.BaseTransport | None = None) -> str:
    """The report as the chosen output (table, JSON or CSV)."""
    end = args.end or (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    start = args.start or (date.fromisoformat(end[:10]) - timedelta(days=7)).isoformat()
    with AfterSalesClient(args.api_url, token, transport=transport) as api:
        data = api.get_report(start, end, args.shop_id)
    if args.json:
        import json

        return json.dumps(data, indent=2, ensure_ascii=False)
    locale = args.lang or normalize(os.environ.get("LANG")) or "en"
    report = Report.model_validate(data)
    if args.csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["section", "figure", "value"])
        writer.writerows(rows(report, locale))
        return out.getvalue().rstrip("\n")
    return table(report, locale)
