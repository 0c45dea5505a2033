"""Durations written the way operators write them: ``72h``, ``5d``, ``90s``, ``30m``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)([smhdw])")
#: Ten years: longer than any guarantee, and far from timedelta's overflow.
MAX_SECONDS = 3650 * 86400


def parse_duration(text: str) -> timedelta:
    """Parse ``"3d"``, ``"72h"``, ``"1d12h"`` into a timedelta; raise ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"a duration must be a string such as '72h' or '5d', got {text!r}")
    cleaned = text.strip().lower()
    if not cleaned or _PART.sub("", cleaned) != "":
        raise ValueError(
            f"{text!r} is not a duration: write a number and a unit (s, m, h, d, w), e.g. '90s', '72h', '5d', '1d12h'"
        )
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than anything after-sales needs (at most 3650d)")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling of a duration, e.g. ``timedelta(hours=36)`` -> ``"1d12h"``."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
