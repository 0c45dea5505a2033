"""Text people read, in zh-CN and en: gettext catalogs and locale-aware money, times and durations.

Catalogs are plain ``.po`` files, one per domain (``workbench``, ``notices``, ``reports``, and
``words``: the names of the domain's values, shared by all three through ``i18n.words``), under
``i18n/locales/<locale>/LC_MESSAGES/``. The msgid is the English text, so the ``en`` catalog may
leave a msgstr empty; ``zh_CN`` must translate every msgid its code uses (each domain's tests
check that). They are read with Babel at first use and kept in memory: no compile step, nothing
generated to commit.

    from i18n import gettext, format_money
    gettext("zh-CN", "notices", "Refund of {amount} approved", amount=format_money(19900, "CNY", "zh-CN"))

Formatting follows the locale's CLDR data through Babel (``¥199.00`` in zh-CN, ``CN¥199.00`` in en).
Times are shown in the reader's time zone, ``Asia/Shanghai`` unless a caller passes another.
The parsed Babel locales and time zones are kept (Babel parses a locale given as text on every
call), so formatting a page's few hundred values costs about a third of what it did.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_datetime as _format_datetime
from babel.dates import get_timezone
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.units import format_unit

from domain.money import ZERO_DECIMAL_CURRENCIES

#: The locales we ship, as BCP 47 tags (what HTTP headers and settings use).
LOCALES: tuple[str, ...] = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
DEFAULT_TIME_ZONE = "Asia/Shanghai"
CATALOG_DIR = Path(__file__).parent / "locales"


def normalize(tag: str | None) -> str | None:
    """A language tag -> one of LOCALES, or None: ``zh``, ``zh-Hans``, ``zh_CN`` -> ``zh-CN``; ``en-GB`` -> ``en``."""
    if not tag:
        return None
    lang = tag.strip().replace("_", "-").split("-")[0].lower()
    return {"zh": "zh-CN", "en": "en"}.get(lang)


def negotiate(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The best of LOCALES for an ``Accept-Language`` header (q-values honoured), else ``default``."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        locale = normalize(tag)
        if locale is not None and quality > 0:
            ranked.append((-quality, index, locale))
    return sorted(ranked)[0][2] if ranked else default


def _babel(locale: str) -> str:
    return (normalize(locale) or DEFAULT_LOCALE).replace("-", "_")


# Babel parses a locale given as text (and looks a time zone up by name) on every call; a page
# formats hundreds of values, so the parsed objects are kept: a third of a workbench queue page's
# time at 20,000 cases went to parsing before.


@cache
def _locale(locale: str) -> Locale:
    return Locale.parse(_babel(locale))


@cache
def _zone(name: str) -> Any:
    return get_timezone(name)


@cache
def catalog(locale: str, domain: str) -> Catalog:
    """The ``domain`` catalog of ``locale`` (an empty one when the file does not exist)."""
    path = CATALOG_DIR / _babel(locale) / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return Catalog(locale=_babel(locale), domain=domain)
    with path.open("rb") as handle:
        return read_po(handle, locale=_babel(locale), domain=domain)


def gettext(locale: str, domain: str, msgid: str, **params: object) -> str:
    """``msgid`` translated into ``locale`` (the msgid itself when untranslated), then ``.format(**params)``."""
    message = catalog(locale, domain).get(msgid)
    text = message.string if message is not None and message.string and not message.fuzzy else msgid
    assert isinstance(text, str)
    return text.format(**params) if params else text


def untranslated(locale: str, domain: str, msgids: list[str]) -> list[str]:
    """The msgids among ``msgids`` that ``locale``'s ``domain`` catalog does not translate (for tests)."""
    cat = catalog(locale, domain)
    missing = []
    for msgid in msgids:
        message = cat.get(msgid)
        if message is None or not message.string or message.fuzzy:
            missing.append(msgid)
    return missing


def format_money(amount: int, currency: str, locale: str) -> str:
    """Minor units as the reader writes money: ``format_money(19900, "CNY", "zh-CN") == "¥199.00"``."""
    value = Decimal(amount) if currency in ZERO_DECIMAL_CURRENCIES else Decimal(amount) / 100
    return format_currency(value, currency, locale=_locale(locale))


def format_datetime(at: datetime, locale: str, time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """``2026-12-03 16:00`` style, in ``time_zone`` (both locales read this numeric form)."""
    return _format_datetime(at, "yyyy-MM-dd HH:mm", tzinfo=_zone(time_zone), locale=_locale(locale))


def format_duration(span: timedelta, locale: str) -> str:
    """The two largest units: ``3 hr 12 min`` / ``3小时 12分钟``; ``2 days 4 hr``; under a minute: ``0 min``."""
    seconds = max(int(span.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = [(days, "duration-day"), (hours, "duration-hour"), (minutes, "duration-minute")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(format_unit_short(value, unit, locale) for value, unit in parts[:2]
                    if value or unit == parts[0][1])


@lru_cache(maxsize=1024)
def format_unit_short(value: int, unit: str, locale: str) -> str:
    """``format_unit_short(3, "duration-hour", "en") == "3 hr"``: Babel's short unit. Few distinct
    values are shown (minutes < 60, hours < 24, days), so each is formatted once."""
    return format_unit(value, unit, length="short", locale=_locale(locale))
