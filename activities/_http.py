"""How a provider's HTTP answer becomes a retry or a permanent failure.

Permanent 4xx is non-retryable (retrying cannot change the answer); 408, 425, 429, 5xx and
transport errors (timeouts, dropped connections) are retryable, and Temporal retries them with
backoff.
"""

from __future__ import annotations

import httpx
from temporalio.exceptions import ApplicationError

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


def raise_for_provider(response: httpx.Response, provider: str, *, permanent_type: str) -> None:
    """Turn a non-2xx answer into the right ApplicationError."""
    if response.is_success:
        return
    detail = _detail(response)
    status = response.status_code
    if status >= 500 or status in RETRYABLE_STATUS:
        raise ApplicationError(
            f"{provider} answered {status}: {detail}", type=f"{provider.capitalize()}Unavailable"
        )
    raise ApplicationError(
        f"{provider} refused with {status}: {detail}",
        {"status": status, "detail": detail},
        type=permanent_type,
        non_retryable=True,
    )


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("detail", "error", "message", "reason"):
            if key in body:
                return str(body[key])[:300]
    return str(body)[:300]
