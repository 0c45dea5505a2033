"""Notices to buyers, shops, supervisors and platform staff through the notification channel.

The workflow hands over a notice kind and its parameters; here it is worded in the recipient's
locale and time zone (``notices.render``, who reads what: ``notices.readers``, the shops file)
and posted with both: the channel gets ``locale``, ``title`` and ``message`` (the body) to show,
and ``kind`` and ``params`` for anything that words notices itself.
"""

from __future__ import annotations

from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import _metrics
from activities._http import raise_for_provider
from activities.contracts import Notification
from notices import NoticeError, Readers, render


class NotificationActivities:
    def __init__(self, client: httpx.AsyncClient, base_url: str, readers: Readers | None = None) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._readers = readers or Readers()

    def message_body(self, notification: Notification) -> dict[str, Any]:
        """What the channel is sent for ``notification``: its fields, worded for its reader."""
        reader = self._readers.reader(notification.recipient_role, notification.shop_id)
        body = notification.model_dump(mode="json", exclude={"message", "locale"})
        try:
            rendered = render(notification.kind, notification.params, reader.locale, reader.time_zone)
        except NoticeError as err:
            if notification.message is None:
                # Retrying cannot word it: a kind or parameter this code does not know.
                raise ApplicationError(f"notice cannot be worded: {err}", type="NoticeUnrenderable",
                                       non_retryable=True) from None
            # Worded by its sender (the weekly report), or from a workflow worker older than notices
            # by kind (a rollout, English): its text, as it is.
            return {**body, "locale": notification.locale or "en", "title": None, "message": notification.message}
        return {**body, "locale": rendered.locale, "title": rendered.title, "message": rendered.body}

    @activity.defn(name="send_notification")
    async def send_notification(self, notification: Notification) -> None:
        try:
            response = await self._client.post(
                f"{self._base_url}/messages",
                json=self.message_body(notification),
                headers={"Idempotency-Key": notification.dedupe_key},
            )
            raise_for_provider(response, "notification", permanent_type="NotificationRefused")
        except Exception as err:
            _metrics.notification_failed(err)
            raise
