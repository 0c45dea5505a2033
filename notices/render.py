"""A notice kind and its parameters -> a title and a body in the reader's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from string import Formatter

from domain.durations import parse_duration
from i18n import DEFAULT_TIME_ZONE, LOCALES, format_datetime, format_duration, format_money, gettext
from i18n.words import word
from notices.kinds import CODES, DOMAIN, DURATIONS, KINDS, OUTCOMES, TIMES


class NoticeError(ValueError):
    """A notice that cannot be worded: an unknown kind, or a parameter its text needs is missing or bad."""


@dataclass(frozen=True)
class Rendered:
    locale: str
    title: str
    body: str


def render(kind: str, params: Mapping[str, object], locale: str, time_zone: str = DEFAULT_TIME_ZONE) -> Rendered:
    """``kind`` with ``params`` in ``locale`` (one of ``i18n.LOCALES``), times in ``time_zone``:
    amounts (minor units + ``currency``) as the locale writes money, ISO times as local times,
    policy durations and codes (deadline kinds, reasons, outcomes) in the reader's words."""
    if locale not in LOCALES:
        raise NoticeError(f"locale {locale!r} is not one of {', '.join(LOCALES)}")
    text = KINDS.get(kind)
    if text is None:
        raise NoticeError(f"no notice kind {kind!r}; the kinds are {', '.join(sorted(KINDS))}")
    words = {name: _word(name, value, params, locale, time_zone) for name, value in params.items()}
    return Rendered(locale=locale, title=_fill(kind, gettext(locale, DOMAIN, text.title), words),
                    body=_fill(kind, gettext(locale, DOMAIN, text.body), words))


def placeholders(template: str) -> set[str]:
    """The ``{name}`` fields of a template."""
    return {field for _, field, _, _ in Formatter().parse(template) if field}


def _fill(kind: str, template: str, words: Mapping[str, str]) -> str:
    missing = placeholders(template) - set(words)
    if missing:
        raise NoticeError(f"notice {kind!r} needs the parameters {', '.join(sorted(missing))}")
    return template.format_map(words)


def _word(name: str, value: object, params: Mapping[str, object], locale: str, time_zone: str) -> str:
    if value is None:
        return ""
    if name == "amount":
        currency = params.get("currency")
        if not isinstance(currency, str) or not isinstance(value, int):
            raise NoticeError(f"amount {value!r} needs an integer of minor units and a currency, got {currency!r}")
        return format_money(value, currency, locale)
    try:
        if name in TIMES:
            return format_datetime(datetime.fromisoformat(str(value)), locale, time_zone)
        if name in DURATIONS:
            return format_duration(parse_duration(str(value)), locale)
    except ValueError as err:
        raise NoticeError(f"parameter {name}={value!r}: {err}") from None
    if name == "outcome":  # Deadline.on_expiry's English outcome is itself the msgid
        return gettext(locale, DOMAIN, str(value)) if str(value) in OUTCOMES else str(value)
    return word(locale, CODES[name], str(value)) if name in CODES else str(value)
