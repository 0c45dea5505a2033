"""Sync and async clients for the after-sales HTTP API (``/v1``, see ``shared/API.md``).

Both share the request building and the answer handling below; they differ only in how they
send. Transport failures (nothing listening, timeouts) surface as ``httpx.TransportError``.

Retries: a ``503``/``504`` (the engine behind the API unreachable, overloaded or slow) is retried
after the answer's ``Retry-After`` (else an exponential backoff with jitter), up to ``retries``
more times, for the calls that are safe to repeat: reads, and opening a case (an identical body
answers the case already opened). A command is repeated only when it cannot have been applied:
the answer says ``may_have_applied: false``, or the command carries ``expected_version`` and a
fresh read shows the case still at that version. Otherwise the error reaches the caller, who
reads the case before deciding. (A few lines of our own rather than a retry library: the
decision reads the answer's body and headers and, for commands, the case.)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, cast

import httpx

from aftersales_client._errors import ApiError, describe
from aftersales_client._types import CaseSummary, CaseView

DEFAULT_API_URL = "http://127.0.0.1:8000"
#: Answers that mean "a dependency of the API failed, try again shortly".
RETRY_STATUSES = frozenset({503, 504})
DEFAULT_RETRIES = 4
MAX_RETRY_DELAY = 10.0


def retry_delay(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): ``Retry-After`` in seconds if
    the answer has one, else 0.5 s doubling, with jitter; never more than ``MAX_RETRY_DELAY``."""
    header = response.headers.get("Retry-After", "")
    if header.isdigit():
        return min(float(header), MAX_RETRY_DELAY)
    return min(0.5 * 2**attempt, MAX_RETRY_DELAY) * random.uniform(0.5, 1.0)


def may_have_applied(response: httpx.Response) -> bool:
    """Whether a failed command may have been applied (true unless the answer says otherwise)."""
    body = _decode(response)
    return not (isinstance(body, dict) and body.get("may_have_applied") is False)


def action_name(action: str) -> str:
    """``offer-partial-refund`` and ``offer_partial_refund`` are the same action."""
    return action.strip().replace("-", "_")


def _request_body(request: Any) -> dict[str, Any]:
    if hasattr(request, "model_dump"):  # a pydantic CaseRequest
        return cast(dict[str, Any], request.model_dump(mode="json", exclude_none=True))
    return dict(request)


def _list_params(filters: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in filters.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, datetime):
            value = value.isoformat()
        params[key] = value
    return params


def _page(body: Any) -> tuple[list[CaseSummary], str | None]:
    """The cases on one page (``{"items": [...], "next_page_token": ...}``) and the next page's token."""
    return list(body.get("items") or []), body.get("next_page_token") or None


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _check(response: httpx.Response) -> Any:
    body = _decode(response)
    if response.is_error:
        raise ApiError(response.status_code, describe(body) if body != "" else response.reason_phrase, body)
    return body


class _Base:
    def __init__(self, base_url: str, token: str | None, retries: int = DEFAULT_RETRIES) -> None:
        base = base_url.rstrip("/")
        self.base_url = base.removesuffix("/v1")
        self.token = token
        self.retries = max(0, retries)

    def _retryable(self, response: httpx.Response, attempt: int) -> bool:
        return response.status_code in RETRY_STATUSES and attempt < self.retries

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    @staticmethod
    def _opened(response: httpx.Response) -> dict[str, Any]:
        body = _check(response)
        if isinstance(body, dict) and "created" not in body:
            body = {**body, "created": response.status_code == 201}
        return cast(dict[str, Any], body)

    @staticmethod
    def _command(payload: Mapping[str, Any], expected_version: int | None) -> dict[str, Any]:
        body = {k: v for k, v in payload.items() if v is not None and v != []}
        if expected_version is not None:
            body["expected_version"] = expected_version
        return body


class AfterSalesClient(_Base):
    """Blocking client. ``AfterSalesClient(base_url, token)``; use as a context manager or call
    :meth:`close`. ``transport`` lets tests plug in ``httpx.MockTransport``."""

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        super().__init__(base_url, token, retries)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers(), timeout=timeout, transport=transport)

    def _send(
        self, method: str, url: str, *, unapplied: Callable[[], bool] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send, retrying a 503/504 when it is safe (see the module docstring). ``unapplied``:
        for a command, whether a fresh look shows it was not applied; ``None``: safe to repeat."""
        attempt = 0
        while True:
            response = self._http.request(method, url, **kwargs)
            if not self._retryable(response, attempt):
                return response
            if unapplied is not None and may_have_applied(response) and not unapplied():
                return response
            time.sleep(retry_delay(response, attempt))
            attempt += 1

    def __enter__(self) -> AfterSalesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def open_case(self, request: Mapping[str, Any] | Any) -> dict[str, Any]:
        """``POST /v1/cases``. The answer, with ``created`` false for an identical retry."""
        return self._opened(self._send("POST", "/v1/cases", json=_request_body(request)))

    def get_case(self, case_id: str) -> CaseView:
        return cast(CaseView, _check(self._send("GET", f"/v1/cases/{case_id}")))

    def iter_cases(self, **filters: Any) -> Iterator[CaseSummary]:
        """Every case matching the filters (``state`` (one or a list), ``shop_id``, ``waiting_on``,
        ``deadline_before``, ``dispute_risk``, ``type``, ``buyer_id``, ``order_id``, ``tracking_number``, ``updated_after``,
        ``page_size``), following ``next_page_token``. Rows are summaries, not full views."""
        params = _list_params(filters)
        while True:
            items, token = _page(_check(self._send("GET", "/v1/cases", params=params)))
            yield from items
            if token is None:
                return
            params = {**params, "page_token": token}

    def list_cases(self, **filters: Any) -> list[CaseSummary]:
        """Like :meth:`iter_cases`, as a list."""
        return list(self.iter_cases(**filters))

    def act(self, case_id: str, action: str, *, expected_version: int | None = None, **payload: Any) -> CaseView:
        """``POST /v1/cases/{case_id}/{action}``; the new case view. ``None`` payload values are left out."""
        body = self._command(payload, expected_version)

        def unapplied() -> bool:
            return expected_version is not None and self._version(case_id) == expected_version

        url = f"/v1/cases/{case_id}/{action_name(action)}"
        return cast(CaseView, _check(self._send("POST", url, json=body, unapplied=unapplied)))

    def _version(self, case_id: str) -> int | None:
        response = self._send("GET", f"/v1/cases/{case_id}")
        return _decode(response).get("version") if response.status_code == 200 else None

    def get_report(self, start: str, end: str, shop_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/reports``: a shop's figures for ``[start, end)`` (dates or RFC 3339 times)."""
        params = {"from": start, "to": end} | ({"shop_id": shop_id} if shop_id else {})
        return cast(dict[str, Any], _check(self._send("GET", "/v1/reports", params=params)))

    def health(self) -> Any:
        return _check(self._http.get("/healthz"))


class AsyncAfterSalesClient(_Base):
    """The same calls as :class:`AfterSalesClient`, awaitable."""

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        super().__init__(base_url, token, retries)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers(), timeout=timeout, transport=transport
        )

    async def _send(
        self, method: str, url: str, *, unapplied: Callable[[], Awaitable[bool]] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """As :meth:`AfterSalesClient._send`."""
        attempt = 0
        while True:
            response = await self._http.request(method, url, **kwargs)
            if not self._retryable(response, attempt):
                return response
            if unapplied is not None and may_have_applied(response) and not await unapplied():
                return response
            await asyncio.sleep(retry_delay(response, attempt))
            attempt += 1

    async def __aenter__(self) -> AsyncAfterSalesClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def open_case(self, request: Mapping[str, Any] | Any) -> dict[str, Any]:
        return self._opened(await self._send("POST", "/v1/cases", json=_request_body(request)))

    async def get_case(self, case_id: str) -> CaseView:
        return cast(CaseView, _check(await self._send("GET", f"/v1/cases/{case_id}")))

    async def list_cases(self, **filters: Any) -> list[CaseSummary]:
        params = _list_params(filters)
        cases: list[CaseSummary] = []
        while True:
            items, token = _page(_check(await self._send("GET", "/v1/cases", params=params)))
            cases += items
            if token is None:
                return cases
            params = {**params, "page_token": token}

    async def act(self, case_id: str, action: str, *, expected_version: int | None = None, **payload: Any) -> CaseView:
        body = self._command(payload, expected_version)

        async def unapplied() -> bool:
            return expected_version is not None and await self._version(case_id) == expected_version

        url = f"/v1/cases/{case_id}/{action_name(action)}"
        return cast(CaseView, _check(await self._send("POST", url, json=body, unapplied=unapplied)))

    async def _version(self, case_id: str) -> int | None:
        response = await self._send("GET", f"/v1/cases/{case_id}")
        return _decode(response).get("version") if response.status_code == 200 else None

    async def health(self) -> Any:
        return _check(await self._http.get("/healthz"))
