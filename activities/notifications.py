"""Notices to buyers, shops, supervisors and platform staff through the notification channel."""

from __future__ import annotations

import httpx
from temporalio import activity

from activities import _metrics
from activities._http import raise_for_provider
from activities.contracts import Notification


class NotificationActivities:
    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")

    @activity.defn(name="send_notification")
    async def send_notification(self, notification: Notification) -> None:
        try:
            response = await self._client.post(
                f"{self._base_url}/messages",
                json=notification.model_dump(mode="json"),
                headers={"Idempotency-Key": notification.dedupe_key},
            )
            raise_for_provider(response, "notification", permanent_type="NotificationRefused")
        except Exception as err:
            _metrics.notification_failed(err)
            raise
