"""The one error the client raises for an HTTP answer that is not a success."""

from __future__ import annotations

from typing import Any


def describe(body: Any) -> str:
    """A one-line human text of an error body (FastAPI ``detail`` as text, object or list)."""
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):  # FastAPI request validation: [{loc, msg, ...}]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                message = item.get("msg") or item.get("message") or str(item)
                parts.append(f"{loc}: {message}" if loc else str(message))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict):
        message = detail.get("message") or detail.get("detail")
        if isinstance(message, str):
            return message
        errors = detail.get("errors")
        if isinstance(errors, list):
            return describe({"detail": errors})
    return str(detail) if detail not in (None, "") else "no detail given"


class ApiError(Exception):
    """The API answered with an error status.

    ``status``: the HTTP status; ``detail``: the server's message as one line of text;
    ``body``: the decoded JSON body (or the raw text when it was not JSON).
    """

    def __init__(self, status: int, detail: str, body: Any = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.body = body

    @property
    def info(self) -> dict[str, Any]:
        """The structured part of the body's ``detail`` (e.g. ``state``, ``allowed_actions``), if any."""
        if not isinstance(self.body, dict):
            return {}
        detail = self.body.get("detail")
        if isinstance(detail, dict):
            return detail
        return {k: v for k, v in self.body.items() if k != "detail"}
