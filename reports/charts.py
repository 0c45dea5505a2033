"""The report's charts as SVG text, drawn with matplotlib (its Agg backend: no display needed).

Why matplotlib: maintained for two decades, a wheel for every platform, draws SVG without a
browser or a JavaScript runtime, so the API, the CLI and the weekly job all make the same chart.
Text is kept as SVG text (``svg.fonttype = none``): the reader's browser draws it in its own
fonts, so Chinese labels need no CJK font on the server, and the text stays selectable.
"""

from __future__ import annotations

import io
import logging
import warnings
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402 - after choosing the backend

from domain.money import ZERO_DECIMAL_CURRENCIES  # noqa: E402
from i18n import words  # noqa: E402
from i18n.words import word  # noqa: E402
from reports.figures import Report  # noqa: E402
from reports.text import t  # noqa: E402

FONTS = ["DejaVu Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "sans-serif"]
AUTOMATIC, STAFF = "#d9480f", "#1c7ed6"
# matplotlib measures text with its own font and warns about every Chinese glyph it lacks; the
# browser draws them (see above).
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def _major(amount: int, currency: str) -> float:
    return float(Decimal(amount) if currency in ZERO_DECIMAL_CURRENCIES else Decimal(amount) / 100)


def _svg(figure: Figure) -> str:
    out = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "aftersales-report"}), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # missing glyphs, see above
        figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = out.getvalue()
    return text[text.index("<svg"):]  # inline: no XML prolog or DOCTYPE


def weekly(report: Report, locale: str) -> str:
    """Money paid per week because a deadline ran out, beside what the shop's staff decided."""
    currency = report.money[0].currency if report.money else (report.weekly[0].currency if report.weekly else "CNY")
    weeks = [w for w in report.weekly if w.currency == currency]
    with matplotlib.rc_context({"font.family": FONTS, "font.size": 9}):
        figure = Figure(figsize=(7.5, 3.2), dpi=96)
        axes = figure.add_subplot()
        labels = [w.week_start.strftime("%m-%d") for w in weeks]
        positions = list(range(len(weeks)))
        automatic = [_major(w.automatic, currency) for w in weeks]
        staff = [_major(w.staff, currency) for w in weeks]
        axes.bar([p - 0.2 for p in positions], automatic, width=0.4, color=AUTOMATIC,
                 label=t(locale, "deadline ran out"))
        axes.bar([p + 0.2 for p in positions], staff, width=0.4, color=STAFF, label=t(locale, "shop's decision"))
        axes.set_xticks(positions, labels, rotation=45 if len(weeks) > 12 else 0)
        axes.set_title(t(locale, "Paid out per week ({currency})", currency=currency))
        axes.set_xlabel(t(locale, "week starting (UTC)"))
        axes.legend(frameon=False)
        axes.spines[["top", "right"]].set_visible(False)
        return _svg(figure)


def by_deadline(report: Report, locale: str) -> str:
    """One bar per deadline kind: how often it ran out in the period."""
    kinds = sorted(report.automatic_actions, key=lambda k: report.automatic_actions[k])
    with matplotlib.rc_context({"font.family": FONTS, "font.size": 9}):
        figure = Figure(figsize=(7.5, 0.6 + 0.45 * max(len(kinds), 1)), dpi=96)
        axes = figure.add_subplot()
        counts = [report.automatic_actions[k] for k in kinds]
        bars = axes.barh([word(locale, words.DEADLINES, k) for k in kinds], counts, color=AUTOMATIC)
        axes.bar_label(bars, padding=3)
        axes.set_title(t(locale, "Deadlines that ran out, by kind"))
        axes.set_xlabel(t(locale, "times"))
        axes.spines[["top", "right"]].set_visible(False)
        if not kinds:
            axes.text(0.5, 0.5, t(locale, "no deadline ran out"), ha="center", va="center",
                      transform=axes.transAxes)
            axes.set_yticks([])
        return _svg(figure)
