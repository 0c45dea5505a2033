"""The courier: parcels with a status, status changes pushed to a webhook, and a polling endpoint.

Each status change (a parcel registered, advanced by hand, or advanced by itself in auto mode) is
pushed to the webhook URL, if one is configured, as ``POST`` with the parcel event as JSON,
``X-Signature-Timestamp: <Unix seconds>`` and ``X-Signature: <lowercase hex HMAC-SHA256 of
"{timestamp}." + raw body, keyed with the shared secret>``, the way the API checks it
(``http_api.courier``): the receiver refuses a timestamp outside its tolerance, so a captured push
cannot be replayed later. Each attempt is signed afresh. A
push is retried a few times on transport errors and 5xx and logged in ``deliveries``; one that
still fails is not an error for the caller, since the pipeline polls as a fallback. Registering
and advancing await the push (its outcome is in the answer, which keeps tests deterministic); a
lookup never waits on one.

Auto mode (``auto_advance_seconds``) moves a parcel one step every N seconds once it is
registered or first looked up, and registers unknown tracking numbers as ``picked_up`` when they
are looked up. The background tasks start lazily from requests (so they run under any ASGI
server or ``httpx.ASGITransport``) and are cancelled by ``aclose()`` and ``reset()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import JSONResponse

from sandbox.models import NEXT_STATUS, AdvanceBody, Parcel, ParcelBody, ParcelStatus, WebhookDelivery
from sandbox.store import Store

log = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"delivered", "exception"})

ParcelKey = tuple[str, str]


def sign(secret: str, body: bytes) -> str:
    """The older ``X-Signature`` value for ``body`` alone: lowercase hex HMAC-SHA256 keyed with ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers of a push signed at ``timestamp`` (Unix seconds): the signature covers the
    timestamp and the body, so neither can be changed and a replay is dated."""
    stamp = str(timestamp)
    return {
        "Content-Type": "application/json",
        "X-Signature-Timestamp": stamp,
        "X-Signature": sign(secret, stamp.encode() + b"." + body),
    }


class UnknownParcel(LookupError):
    """No parcel with this carrier and tracking number."""


class ParcelFinal(Exception):
    """``advance`` without a status on a parcel that is already delivered or in exception."""


class Courier:
    def __init__(
        self,
        store: Store,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = "",
        auto_advance_seconds: float | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        webhook_attempts: int = 3,
        webhook_timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        #: Unix seconds for the signature's timestamp (tests sign in the past with another clock).
        self._clock = clock
        self.webhook_url = webhook_url
        self._secret = webhook_secret
        self.auto_advance_seconds = auto_advance_seconds
        self._transport = webhook_transport
        self._attempts = max(1, webhook_attempts)
        self._timeout = webhook_timeout_seconds
        self._http: httpx.AsyncClient | None = None
        self._auto_tasks: dict[ParcelKey, asyncio.Task[Any]] = {}
        self._background: set[asyncio.Task[Any]] = set()  # auto-advance tasks and background pushes
        self.deliveries: list[WebhookDelivery] = []

    # ---------------------------------------------------------------------------------- parcels

    async def register(self, body: ParcelBody) -> tuple[Parcel, WebhookDelivery | None, bool]:
        """Register a parcel; an already known one is left as it is. Returns (parcel, push, created)."""
        key = (body.carrier, body.tracking_number)
        existing = self._store.parcels.get(key)
        if existing is not None:
            self._start_auto(key)
            return existing, None, False
        parcel, delivery = await self._set(key, body.status, body.occurred_at)
        return parcel, delivery, True

    def parcels(self) -> list[Parcel]:
        return list(self._store.parcels.values())

    async def lookup(self, carrier: str, tracking_number: str) -> Parcel | None:
        """The parcel's latest scan. In auto mode an unknown parcel is registered as picked up."""
        key = (carrier, tracking_number)
        parcel = self._store.parcels.get(key)
        if parcel is None and self.auto_advance_seconds is not None:
            parcel = self._record(key, "picked_up", None)
            # A lookup must not wait on the webhook: the pipeline polls exactly when pushes fail.
            self._spawn(self.push(parcel), f"push {key}")
        if parcel is not None:
            self._start_auto(key)
        return parcel

    async def advance(
        self, carrier: str, tracking_number: str, body: AdvanceBody | None = None
    ) -> tuple[Parcel, WebhookDelivery | None]:
        """Move a parcel to ``body.status``, or one step along picked_up -> in_transit -> delivered.

        Raises ``UnknownParcel`` and, when there is no next step, ``ParcelFinal``.
        """
        key = (carrier, tracking_number)
        parcel = self._store.parcels.get(key)
        if parcel is None:
            raise UnknownParcel(f"{carrier}/{tracking_number}")
        status = body.status if body is not None and body.status is not None else NEXT_STATUS.get(parcel.status)
        if status is None:
            raise ParcelFinal(f"parcel {carrier}/{tracking_number} is already {parcel.status}")
        return await self._set(key, status, body.occurred_at if body is not None else None)

    async def _set(
        self, key: ParcelKey, status: ParcelStatus, occurred_at: datetime | None
    ) -> tuple[Parcel, WebhookDelivery | None]:
        parcel = self._record(key, status, occurred_at)
        return parcel, await self.push(parcel)

    def _record(self, key: ParcelKey, status: ParcelStatus, occurred_at: datetime | None) -> Parcel:
        parcel = Parcel(
            carrier=key[0],
            tracking_number=key[1],
            status=status,
            occurred_at=(occurred_at or datetime.now(UTC)).isoformat(),
        )
        self._store.put_parcel(parcel)
        self._start_auto(key)
        return parcel

    # ---------------------------------------------------------------------------------- webhook

    async def push(self, event: Parcel) -> WebhookDelivery | None:
        """POST the event to the webhook with its signature; ``None`` if no webhook is configured."""
        if self.webhook_url is None:
            return None
        raw = event.model_dump_json().encode()
        delivery = WebhookDelivery(event=event, url=self.webhook_url, attempts=0)
        for attempt in range(1, self._attempts + 1):
            delivery.attempts = attempt
            headers = signed_headers(self._secret, raw, int(self._clock()))
            try:
                response = await self._client().post(self.webhook_url, content=raw, headers=headers)
            except httpx.HTTPError as err:
                delivery.status_code, delivery.error = None, f"{type(err).__name__}: {err}"
            else:
                delivery.status_code = response.status_code
                delivery.error = None if response.is_success else response.text[:300]
                if response.status_code < 500:
                    break
            if attempt < self._attempts:
                await asyncio.sleep(0.2 * attempt)
        if not delivery.delivered:
            log.warning("webhook push of %s failed: %s %s", event, delivery.status_code, delivery.error)
        self.deliveries.append(delivery)
        return delivery

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
        return self._http

    # ---------------------------------------------------------------------------------- auto mode

    def _start_auto(self, key: ParcelKey) -> None:
        if self.auto_advance_seconds is None:
            return
        parcel = self._store.parcels.get(key)
        running = self._auto_tasks.get(key)
        if parcel is None or parcel.status in FINAL_STATUSES or (running is not None and not running.done()):
            return
        self._auto_tasks[key] = self._spawn(self._auto_advance(key), f"auto-advance {key}")

    def _spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _auto_advance(self, key: ParcelKey) -> None:
        assert self.auto_advance_seconds is not None
        while True:
            await asyncio.sleep(self.auto_advance_seconds)
            parcel = self._store.parcels.get(key)
            if parcel is None or parcel.status not in NEXT_STATUS:
                return
            try:
                await self._set(key, NEXT_STATUS[parcel.status], None)
            except Exception:  # a background task has nobody to report to but the log
                log.exception("auto-advance of %s failed", key)
                return

    async def _cancel_background(self) -> None:
        tasks = [t for t in self._background if t is not asyncio.current_task()]
        self._auto_tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---------------------------------------------------------------------------------- lifecycle

    async def reset(self) -> None:
        """Stop the background tasks and forget the deliveries (the store is cleared by its owner)."""
        await self._cancel_background()
        self.deliveries.clear()

    async def aclose(self) -> None:
        """Stop the background tasks and close the webhook client."""
        await self._cancel_background()
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _parcel_answer(parcel: Parcel, delivery: WebhookDelivery | None) -> dict[str, Any]:
    return {**parcel.model_dump(mode="json"), "webhook": delivery.model_dump(mode="json") if delivery else None}


def courier_router(courier: Courier) -> APIRouter:
    """The courier's routes, under ``/courier``."""
    router = APIRouter(prefix="/courier", tags=["courier"])

    @router.post("/parcels", status_code=201)
    async def register_parcel(body: ParcelBody) -> JSONResponse:
        """Register a parcel (``201``, pushes the event); a known one answers ``200`` unchanged."""
        parcel, delivery, created = await courier.register(body)
        return JSONResponse(_parcel_answer(parcel, delivery), status_code=201 if created else 200)

    @router.get("/parcels")
    async def list_parcels() -> dict[str, Any]:
        """Every parcel's latest scan."""
        parcels = [p.model_dump(mode="json") for p in courier.parcels()]
        return {"parcels": parcels, "count": len(parcels)}

    @router.get("/parcels/{carrier}/{tracking_number}")
    async def get_parcel(carrier: str, tracking_number: str) -> Parcel:
        """The parcel's latest scan, or ``404`` for an unknown tracking number (auto mode registers it)."""
        parcel = await courier.lookup(carrier, tracking_number)
        if parcel is None:
            raise HTTPException(404, "unknown tracking number")
        return parcel

    @router.post("/parcels/{carrier}/{tracking_number}/advance")
    async def advance_parcel(
        carrier: str, tracking_number: str, body: Annotated[AdvanceBody | None, Body()] = None
    ) -> dict[str, Any]:
        """Move the parcel to ``status`` or one step on, and push the event. ``404`` unknown,
        ``409`` already delivered or in exception (give an explicit ``status`` to move it anyway)."""
        try:
            parcel, delivery = await courier.advance(carrier, tracking_number, body)
        except UnknownParcel:
            raise HTTPException(404, "unknown tracking number") from None
        except ParcelFinal as err:
            raise HTTPException(409, str(err)) from None
        return _parcel_answer(parcel, delivery)

    @router.get("/deliveries")
    async def list_deliveries() -> dict[str, Any]:
        """Every webhook push and how it went, oldest first."""
        deliveries = [d.model_dump(mode="json") for d in courier.deliveries]
        return {"deliveries": deliveries, "count": len(deliveries), "webhook_url": courier.webhook_url}

    return router
