"""The notification channel: accepts messages once per dedupe key and keeps an inbox to read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query

from sandbox.models import Message, MessageBody
from sandbox.store import Store


class KeyMismatch(ValueError):
    """The ``Idempotency-Key`` header and the body's ``dedupe_key`` name different messages."""


class NotificationChannel:
    def __init__(self, store: Store) -> None:
        self._store = store

    def send(self, body: MessageBody, header_key: str | None) -> dict[str, Any]:
        """Keep the message unless its key (the ``Idempotency-Key`` header, else ``dedupe_key``)
        was seen before; either way it is accepted, as a real channel would."""
        key = header_key or body.dedupe_key
        if key != body.dedupe_key:
            raise KeyMismatch("the Idempotency-Key header and the body's dedupe_key differ")
        existing = self._store.message_keys.get(key)
        if existing is not None:
            return {"accepted": True, "duplicate": True, "message_id": existing}
        message = Message(
            **body.model_dump(),
            message_id=f"msg-{len(self._store.messages) + 1:06d}",
            received_at=datetime.now(UTC).isoformat(),
        )
        self._store.add_message(message)
        return {"accepted": True, "duplicate": False, "message_id": message.message_id}

    def inbox(
        self,
        case_id: str | None = None,
        recipient_role: str | None = None,
        recipient_id: str | None = None,
        kind: str | None = None,
        locale: str | None = None,
    ) -> list[Message]:
        wanted = {"case_id": case_id, "recipient_role": recipient_role, "recipient_id": recipient_id, "kind": kind,
                  "locale": locale}
        filters = {name: value for name, value in wanted.items() if value is not None}
        candidates = self._store.messages_by_case.get(case_id, []) if case_id is not None else self._store.messages
        return [m for m in candidates if all(getattr(m, name) == value for name, value in filters.items())]


def notify_router(channel: NotificationChannel) -> APIRouter:
    """The notification channel's routes, under ``/notify``."""
    router = APIRouter(prefix="/notify", tags=["notifications"])

    @router.post("/messages", status_code=202)
    async def post_message(
        body: MessageBody, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
    ) -> dict[str, Any]:
        """Accept a message (``202``); a repeated key is dropped as a duplicate, still ``202``;
        ``400`` if the header and the body's ``dedupe_key`` differ."""
        try:
            return channel.send(body, idempotency_key)
        except KeyMismatch as err:
            raise HTTPException(400, str(err)) from None

    @router.get("/messages")
    async def get_messages(
        case_id: Annotated[str | None, Query()] = None,
        recipient_role: Annotated[str | None, Query()] = None,
        recipient_id: Annotated[str | None, Query()] = None,
        kind: Annotated[str | None, Query()] = None,
        locale: Annotated[str | None, Query(description="zh-CN or en")] = None,
        limit: Annotated[int | None, Query(ge=0, description="only the last `limit` messages")] = None,
    ) -> dict[str, Any]:
        """The inbox in arrival order, filtered by any of the query parameters; ``count`` is the
        number of matching messages even when ``limit`` returns fewer. Each message shows its
        ``locale``, ``title`` and ``message`` (the text the recipient reads), ``kind`` and ``params``."""
        messages = channel.inbox(case_id, recipient_role, recipient_id, kind, locale)
        shown = messages if limit is None else messages[len(messages) - limit:] if limit else []
        return {"messages": [m.model_dump(mode="json") for m in shown], "count": len(messages)}

    return router
