"""The report as HTML: a fragment for the web console (``render``) and a page of its own (``page``).

Everything shown is escaped; the two charts are inline SVG (``reports.charts``)."""

from __future__ import annotations

from html import escape

from reports import charts
from reports.figures import Report
from reports.text import period, rows, t, title

STYLE = """
.aftersales-report{font-family:system-ui,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:56rem}
.aftersales-report table{border-collapse:collapse;margin:.5rem 0 1.5rem}
.aftersales-report th,.aftersales-report td{text-align:left;padding:.2rem .8rem;border-bottom:1px solid #ddd}
.aftersales-report th[scope=rowgroup]{padding-top:.8rem;border-bottom:2px solid #999}
.aftersales-report figure{margin:1rem 0}
.aftersales-report svg{max-width:100%;height:auto}
"""


def render(report: Report, locale: str) -> str:
    """The report as an HTML fragment (a ``<section>``) with its two charts."""
    parts = [f'<section class="aftersales-report" lang="{escape(locale)}">',
             f"<h2>{escape(title(report, locale))}</h2>", f"<p>{escape(period(report, locale))}</p>",
             f'<figure aria-label="{escape(t(locale, "Paid out per week"))}">{charts.weekly(report, locale)}</figure>',
             f'<figure aria-label="{escape(t(locale, "Deadlines that ran out, by kind"))}">'
             f"{charts.by_deadline(report, locale)}</figure>", "<table>"]
    section = None
    for sec, label, value in rows(report, locale):
        if sec != section:
            parts.append(f'<tr><th scope="rowgroup" colspan="2">{escape(sec)}</th></tr>')
            section = sec
        parts.append(f"<tr><td>{escape(label)}</td><td>{escape(value)}</td></tr>")
    parts += ["</table>", "</section>"]
    return "\n".join(parts)


def page(report: Report, locale: str) -> str:
    """A whole HTML document around ``render``."""
    return (f'<!doctype html>\n<html lang="{escape(locale)}"><head><meta charset="utf-8">'
            f"<title>{escape(title(report, locale))}</title><style>{STYLE}</style></head>"
            f"<body>{render(report, locale)}</body></html>\n")
