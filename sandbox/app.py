"""One FastAPI app standing in for the three external providers, each under its own prefix.

    /payments   the payment provider  (PAYMENT_URL = http://127.0.0.1:8700/payments)
    /courier    the courier           (COURIER_URL = http://127.0.0.1:8700/courier)
    /notify     the notification channel (NOTIFY_URL = http://127.0.0.1:8700/notify)
    /healthz, /reset

Production points the same settings at the real providers; nothing in the pipeline knows which
one it talks to.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from http_api import docs_assets
from sandbox.courier import Courier, courier_router
from sandbox.models import PaymentFaults
from sandbox.notify import NotificationChannel, notify_router
from sandbox.payments import PaymentProvider, payments_router
from sandbox.receiver import EventReceiver, receiver_router
from sandbox.store import Store

#: The pipeline's default ``COURIER_WEBHOOK_SECRET``, so the dev stack works without configuration.
DEFAULT_WEBHOOK_SECRET = "dev-courier-secret"


@dataclass
class Sandbox:
    """The providers' state and behaviour behind the app (``app.state.sandbox``), for tests to reach."""

    store: Store
    payments: PaymentProvider
    notifications: NotificationChannel
    courier: Courier
    receiver: EventReceiver

    async def reset(self) -> None:
        """Forget every payout, message, parcel, delivery and received event; faults back to their start-up values."""
        await self.courier.reset()
        self.payments.reset()
        self.receiver.reset()
        self.store.clear()

    async def aclose(self) -> None:
        await self.courier.aclose()
        self.store.close()


def create_app(
    *,
    webhook_url: str | None = None,
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
    state_file: str | os.PathLike[str] | None = None,
    faults: PaymentFaults | None = None,
    auto_advance_seconds: float | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    webhook_attempts: int = 3,
    webhook_clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the sandbox.

    ``webhook_url``/``webhook_secret``: where and how courier events are pushed (none: no push).
    ``state_file``: keep payouts, messages, parcels and received events in this SQLite database
    across restarts.
    ``faults``: the payment provider's start-up faults (``POST /payments/faults`` changes them).
    ``auto_advance_seconds``: parcels move one step by themselves every N seconds.
    ``webhook_transport``: an httpx transport for the webhook client (tests capture pushes with it).
    ``webhook_clock``: Unix seconds for the pushes' ``X-Signature-Timestamp`` (tests sign in the past).
    """
    store = Store.open(state_file)
    sandbox = Sandbox(
        store=store,
        payments=PaymentProvider(store, faults),
        notifications=NotificationChannel(store),
        courier=Courier(
            store,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            auto_advance_seconds=auto_advance_seconds,
            webhook_transport=webhook_transport,
            webhook_attempts=webhook_attempts,
            clock=webhook_clock,
        ),
        receiver=EventReceiver(store),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await sandbox.aclose()

    app = FastAPI(
        title="Provider sandbox",
        summary="Stands in for the payment provider, the courier and the notification channel.",
        lifespan=lifespan,
        docs_url=None,  # served offline, with the API's own files: http_api.docs_assets
        redoc_url=None,
    )
    docs_assets.install(app)
    app.state.sandbox = sandbox
    app.include_router(payments_router(sandbox.payments))
    app.include_router(courier_router(sandbox.courier))
    app.include_router(notify_router(sandbox.notifications))
    app.include_router(receiver_router(sandbox.receiver))

    @app.get("/healthz", tags=["sandbox"])
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/reset", tags=["sandbox"])
    async def reset() -> dict[str, bool]:
        """Clear every record (in the database too); faults back to their start-up values."""
        await sandbox.reset()
        return {"ok": True}

    @app.get("/", tags=["sandbox"])
    async def index() -> dict[str, Any]:
        return {
            "service": "provider sandbox",
            "payments": "/payments",
            "courier": "/courier",
            "notify": "/notify",
            "event receiver": "/receiver/events",
            "webhook_url": webhook_url,
            "state_file": str(store.path) if store.path else None,
            "docs": "/docs",
        }

    return app
