"""Durations written the way operators write them: ``72h``, ``5d``, ``90s``, ``30m``, ``500ms``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
# "ms" before "m" and "s", so "500ms" is one part, not 500 minutes and a stray "s".
_PART = re.compile(r"(\d+)(ms|[smhdw])")
#: Ten years: longer than any guarantee, and far from timedelta's overflow.
MAX_SECONDS = 3650 * 86400
_HOW = "write whole numbers with a unit (ms, s, m, h, d, w), e.g. '500ms', '90s', '72h', '5d', '1d12h'"


def parse_duration(text: str) -> timedelta:
    """Parse ``"3d"``, ``"72h"``, ``"1d12h"``, ``"1s500ms"`` into a timedelta; raise ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"a duration must be a string such as '72h' or '5d', got {text!r}")
    cleaned = text.strip().lower()
    if not cleaned or _PART.sub("", cleaned) != "":
        hint = " (a fraction is written in a smaller unit: '1500ms', not '1.5s')" if "." in cleaned else ""
        raise ValueError(f"{text!r} is not a duration: {_HOW}{hint}")
    milliseconds = sum(int(n) * _UNIT_MS[u] for n, u in _PART.findall(cleaned))
    if milliseconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    if milliseconds > MAX_SECONDS * 1000:
        raise ValueError(f"{text!r} is longer than anything after-sales needs (at most 3650d)")
    return timedelta(milliseconds=milliseconds)


def check_whole_milliseconds(delta: timedelta) -> timedelta:
    """``delta`` if it can be written as a duration and read back unchanged; ValueError otherwise."""
    if delta <= timedelta(0):
        raise ValueError(f"{delta} is not a positive duration")
    if delta.microseconds % 1000:
        raise ValueError(f"{delta} is not a whole number of milliseconds (the smallest unit a policy can write)")
    if delta > timedelta(seconds=MAX_SECONDS):
        raise ValueError(f"{delta} is longer than anything after-sales needs (at most 3650d)")
    return delta


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling of a duration, e.g. ``timedelta(hours=36)`` -> ``"1d12h"``,
    ``timedelta(milliseconds=1500)`` -> ``"1s500ms"`` (below a millisecond is dropped)."""
    milliseconds = delta // timedelta(milliseconds=1)
    if milliseconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        count, milliseconds = divmod(milliseconds, _UNIT_MS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
