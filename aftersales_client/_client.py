"""Sync and async clients for the after-sales HTTP API (``/v1``, see ``shared/API.md``).

Both share the request building and the answer handling below; they differ only in how they
send. Transport failures (nothing listening, timeouts) surface as ``httpx.TransportError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, cast

import httpx

from aftersales_client._errors import ApiError, describe
from aftersales_client._types import CaseSummary, CaseView

DEFAULT_API_URL = "http://127.0.0.1:8000"


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
    def __init__(self, base_url: str, token: str | None) -> None:
        base = base_url.rstrip("/")
        self.base_url = base.removesuffix("/v1")
        self.token = token

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
    ) -> None:
        super().__init__(base_url, token)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers(), timeout=timeout, transport=transport)

    def __enter__(self) -> AfterSalesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def open_case(self, request: Mapping[str, Any] | Any) -> dict[str, Any]:
        """``POST /v1/cases``. The answer, with ``created`` false for an identical retry."""
        return self._opened(self._http.post("/v1/cases", json=_request_body(request)))

    def get_case(self, case_id: str) -> CaseView:
        return cast(CaseView, _check(self._http.get(f"/v1/cases/{case_id}")))

    def iter_cases(self, **filters: Any) -> Iterator[CaseSummary]:
        """Every case matching the filters (``state`` (one or a list), ``shop_id``, ``waiting_on``,
        ``deadline_before``, ``dispute_risk``, ``type``, ``buyer_id``, ``order_id``, ``tracking_number``,
        ``page_size``), following ``next_page_token``. Rows are summaries, not full views."""
        params = _list_params(filters)
        while True:
            items, token = _page(_check(self._http.get("/v1/cases", params=params)))
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
        return cast(CaseView, _check(self._http.post(f"/v1/cases/{case_id}/{action_name(action)}", json=body)))

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
    ) -> None:
        super().__init__(base_url, token)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers(), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncAfterSalesClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def open_case(self, request: Mapping[str, Any] | Any) -> dict[str, Any]:
        return self._opened(await self._http.post("/v1/cases", json=_request_body(request)))

    async def get_case(self, case_id: str) -> CaseView:
        return cast(CaseView, _check(await self._http.get(f"/v1/cases/{case_id}")))

    async def list_cases(self, **filters: Any) -> list[CaseSummary]:
        params = _list_params(filters)
        cases: list[CaseSummary] = []
        while True:
            items, token = _page(_check(await self._http.get("/v1/cases", params=params)))
            cases += items
            if token is None:
                return cases
            params = {**params, "page_token": token}

    async def act(self, case_id: str, action: str, *, expected_version: int | None = None, **payload: Any) -> CaseView:
        body = self._command(payload, expected_version)
        return cast(CaseView, _check(await self._http.post(f"/v1/cases/{case_id}/{action_name(action)}", json=body)))

    async def health(self) -> Any:
        return _check(await self._http.get("/healthz"))
