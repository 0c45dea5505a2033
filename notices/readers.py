"""Who reads a notice in which language and time zone: the shops file (``AFTERSALES_SHOPS``).

    # shops.toml
    [default]                  # every shop not listed below (and its buyers)
    locale = "zh-CN"
    time_zone = "Asia/Shanghai"

    [platform]                 # platform staff (arbiters); unset fields: [default]'s
    locale = "zh-CN"

    [shops."shop-2"]           # one shop, its staff, supervisors and buyers
    locale = "en"
    time_zone = "Europe/London"

The rule: a shop's staff and supervisors read its locale; so do its buyers (they bought in that
shop's storefront, and an order carries no language of the buyer's); platform staff read the
``[platform]`` locale. Anything unset falls back to ``[default]``, then to zh-CN and
Asia/Shanghai, so no file at all means every notice in Chinese, in Beijing time.

Why a file of its own and not the policy: the policy travels with each case (it is part of the
workflow's input, versioned), so a shop's language there would ride in every case of every shop,
change the policy version when a shop switches language, and not reach its open cases. A
language is how a notice is worded, not a rule of the case: the notice activity reads it when it
sends, so a change applies to the next notice of every case (after the worker restarts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.models import Role
from domain.policy import read_toml
from i18n import DEFAULT_LOCALE, DEFAULT_TIME_ZONE, LOCALES


@dataclass(frozen=True)
class Reader:
    """How one recipient reads: a locale of ``i18n.LOCALES`` and an IANA time zone."""

    locale: str
    time_zone: str


class ReaderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    locale: str | None = Field(default=None, description=f"one of {', '.join(LOCALES)}")
    time_zone: str | None = Field(default=None, description="an IANA zone such as Asia/Shanghai")

    @field_validator("locale")
    @classmethod
    def _shipped_locale(cls, value: str | None) -> str | None:
        if value is not None and value not in LOCALES:
            raise ValueError(f"{value!r} is not a locale we ship; use one of {', '.join(LOCALES)}")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Shanghai, Europe/London)") from None
        return value


class Readers(BaseModel):
    """The shops file: the default, the platform's and each listed shop's locale and time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: ReaderSettings = Field(default_factory=ReaderSettings)
    platform: ReaderSettings = Field(default_factory=ReaderSettings)
    shops: dict[str, ReaderSettings] = Field(default_factory=dict)

    def _resolve(self, settings: ReaderSettings | None) -> Reader:
        chosen = settings or ReaderSettings()
        return Reader(locale=chosen.locale or self.default.locale or DEFAULT_LOCALE,
                      time_zone=chosen.time_zone or self.default.time_zone or DEFAULT_TIME_ZONE)

    def shop(self, shop_id: str) -> Reader:
        """How ``shop_id``'s staff, supervisors and buyers read."""
        return self._resolve(self.shops.get(shop_id))

    def reader(self, role: Role, shop_id: str) -> Reader:
        """How a recipient of ``role`` on a case of ``shop_id`` reads."""
        if role == Role.PLATFORM:
            return self._resolve(self.platform)
        return self.shop(shop_id)


class ReadersError(ValueError):
    """A shops file that cannot be used; the message names the file, the field and why."""


def load_readers(path: str | Path | None) -> Readers:
    """Read a shops file; ``None`` gives zh-CN and Asia/Shanghai for everyone."""
    if path is None:
        return Readers()
    path = Path(path)
    return parse_readers(read_toml(path, "shops file", ReadersError), source=f"shops file {path}")


def parse_readers(data: dict[str, Any], source: str = "shops") -> Readers:
    try:
        return Readers.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise ReadersError(f"{source}: {problems}") from err
