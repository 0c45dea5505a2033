"""A report as text people read, in zh-CN or en: the rows of the CLI table, the HTML page and the
weekly notice. Every msgid is English and lives in ``i18n/locales/*/LC_MESSAGES/reports.po``."""

from __future__ import annotations

from datetime import timedelta

from i18n import format_datetime, format_duration, format_money, words
from i18n import gettext as _gettext
from i18n.words import word
from reports.figures import Report, Times

DOMAIN = "reports"

#: Who decided a case's end (the domain's values are named by ``i18n.words``), as msgids.
DECIDER_NAMES = {"automatic": "a deadline ran out", "staff": "the shop's staff", "buyer": "the buyer",
                 "platform": "the platform"}


def t(locale: str, msgid: str, **params: object) -> str:
    return _gettext(locale, DOMAIN, msgid, **params)


def name(locale: str, names: dict[str, str], key: str) -> str:
    return t(locale, names[key]) if key in names else key


def outcome_name(locale: str, key: str) -> str:
    """How a case ended: ``refunded``, ``completed`` or ``closed:<close reason>`` -> ``closed: rejected by the shop``."""
    state, _, close_reason = key.partition(":")
    if close_reason:
        return t(locale, "closed: {reason}", reason=word(locale, words.CLOSE_REASONS, close_reason))
    return word(locale, words.STATES, state)


def _times(times: Times, locale: str) -> str:
    if not times.cases:
        return "–"
    p50 = format_duration(timedelta(seconds=times.p50_seconds or 0), locale)
    p90 = format_duration(timedelta(seconds=times.p90_seconds or 0), locale)
    return t(locale, "p50 {p50}, p90 {p90} ({cases} cases)", p50=p50, p90=p90, cases=times.cases)


def title(report: Report, locale: str) -> str:
    shop = report.shop_id if report.shop_id is not None else t(locale, "every shop")
    return t(locale, "After-sales report: {shop}", shop=shop)


def period(report: Report, locale: str) -> str:
    return t(locale, "{start} to {end} (end excluded)", start=format_datetime(report.period_from, locale),
             end=format_datetime(report.period_to, locale))


def rows(report: Report, locale: str) -> list[tuple[str, str, str]]:
    """(section, label, value) rows, in reading order."""
    out: list[tuple[str, str, str]] = []

    def add(section: str, label: str, value: object) -> None:
        out.append((t(locale, section), label, str(value)))

    add("Cases", t(locale, "opened"), report.opened.total)
    add("Cases", t(locale, "ended"), report.ended.total)
    for key, count in report.ended.by_type.items():
        add("Cases", t(locale, "ended, {what}", what=word(locale, words.TYPES, key)), count)
    for key, count in report.ended.by_reason.items():
        add("Cases", t(locale, "ended, {what}", what=word(locale, words.REASONS, key)), count)
    for key, count in report.ended.by_outcome.items():
        add("Outcomes", outcome_name(locale, key), count)
    for key, count in report.ended.by_decider.items():
        add("Decided by", name(locale, DECIDER_NAMES, key), count)
    for key, count in report.automatic_actions.items():
        add("Deadlines that ran out", word(locale, words.DEADLINES, key), count)
    for money in report.money:
        c = money.currency
        for payer, label in (("automatic", t(locale, "paid because a deadline ran out")),
                             ("staff", t(locale, "paid on the shop's decision")),
                             ("platform", t(locale, "paid on the platform's decision"))):
            amounts = getattr(money, payer)
            add("Money", label, t(
                locale, "{total} (refunds {refund}, compensation {compensation}, return shipping {reimbursement})",
                total=format_money(amounts.total, c, locale), refund=format_money(amounts.refund, c, locale),
                compensation=format_money(amounts.compensation, c, locale),
                reimbursement=format_money(amounts.reimbursement, c, locale)))
        for key, amount in money.automatic_by_deadline.items():
            add("Money", t(locale, "paid because of: {deadline}", deadline=word(locale, words.DEADLINES, key)),
                format_money(amount, c, locale))
    add("Times", t(locale, "first response by the shop"), _times(report.first_merchant_response, locale))
    add("Times", t(locale, "resolution"), _times(report.resolution, locale))
    add("Risk", t(locale, "flagged dispute risk"), report.dispute_risk_flagged)
    add("Risk", t(locale, "escalated to the platform"),
        t(locale, "{count} ({rate} %)", count=report.escalated, rate=f"{report.escalation_rate * 100:.1f}"))
    for key, count in report.arbitration.items():
        add("Risk", t(locale, "arbitration: {outcome}", outcome=word(locale, words.ARBITRATION_OUTCOMES, key)), count)
    add("Reminders", t(locale, "sent"), report.reminders_sent)
    add("Reminders", t(locale, "acted on before the deadline"), report.reminders_acted_on)
    return out


def table(report: Report, locale: str) -> str:
    """A plain-text table for terminals."""
    lines = [title(report, locale), period(report, locale), ""]
    body = rows(report, locale)
    width = max((len(label) for _, label, _ in body), default=10) + 2
    section = None
    for sec, label, value in body:
        if sec != section:
            lines.append(sec)
            section = sec
        lines.append(f"  {label.ljust(width)}{value}")
    return "\n".join(lines)


def notice(report: Report, locale: str) -> str:
    """The weekly notice: the headline figures in a few lines."""
    lines = [title(report, locale), period(report, locale)]
    lines.append(t(locale, "{opened} cases opened, {ended} ended, {automatic} of them decided by a deadline "
                   "that ran out", opened=report.opened.total, ended=report.ended.total,
                   automatic=report.ended.automatic))
    for money in report.money:
        lines.append(t(locale, "Paid because nobody acted in time: {amount}",
                       amount=format_money(money.automatic.total, money.currency, locale)))
    missed = ", ".join(f"{word(locale, words.DEADLINES, k)} {v}" for k, v in report.automatic_actions.items())
    if missed:
        lines.append(t(locale, "Deadlines that ran out: {list}", list=missed))
    lines.append(t(locale, "Reminders: {sent} sent, {acted} acted on", sent=report.reminders_sent,
                   acted=report.reminders_acted_on))
    return "\n".join(lines)
