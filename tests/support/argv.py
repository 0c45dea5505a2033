"""Reading a command line back in tests."""

from __future__ import annotations

from collections.abc import Sequence


def values_of(argv: Sequence[str], flag: str) -> list[str]:
    """The value after each occurrence of ``flag``, in order."""
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == flag]
