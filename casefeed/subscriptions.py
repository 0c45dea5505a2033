"""Subscriptions: who is told of which events. Made from configuration (``AFTERSALES_SUBSCRIPTIONS``,
a JSON list) and through the API (``/v1/subscriptions``, system and operator roles)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from casefeed import signing
from casefeed.events import EventType
from casefeed.store import EventStore, Subscription, load_subscriptions_file

ALL_TYPES = "*"


class SubscriptionRequest(BaseModel):
    """A subscription as it is created or replaced (the secret is write-only)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="where events are POSTed: http(s) with a host", max_length=2000)
    secret: str = Field(description="Standard Webhooks secret, whsec_<base64 of at least 24 bytes>; never shown again")
    types: list[str] = Field(min_length=1, description=f"event types, or [{ALL_TYPES!r}] for all: "
                             + ", ".join(t.value for t in EventType))
    shop_id: str | None = Field(default=None, description="the shop whose cases it hears of; none: every shop "
                                "(platform-wide, operator or a platform system principal only)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http:// or https:// URL with a host")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        signing.secret_key(value)
        return value

    @field_validator("types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        known = {t.value for t in EventType}
        unknown = [t for t in value if t != ALL_TYPES and t not in known]
        if unknown:
            raise ValueError(f"unknown event type(s) {', '.join(map(repr, unknown))}; allowed: "
                             f"{ALL_TYPES!r} or {', '.join(sorted(known))}")
        return [ALL_TYPES] if ALL_TYPES in value else list(dict.fromkeys(value))


class SubscriptionView(BaseModel):
    """A subscription as it is shown: never the secret."""

    id: str
    url: str
    types: list[str]
    shop_id: str | None
    source: str = Field(description="config (from AFTERSALES_SUBSCRIPTIONS) or api")
    created_at: datetime

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionView:
        return cls(id=sub.id, url=sub.url, types=list(sub.types), shop_id=sub.shop_id, source=sub.source,
                   created_at=sub.created_at)


def subscription(subscription_id: str, request: SubscriptionRequest, source: str) -> Subscription:
    return Subscription(id=subscription_id, shop_id=request.shop_id, url=request.url, secret=request.secret,
                        types=tuple(request.types), source=source, created_at=datetime.now(UTC))


def apply_config(store: EventStore, path: str) -> int:
    """Create or replace the configured subscriptions (by id); returns how many."""
    entries = load_subscriptions_file(path)
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ValueError(f"{path}: entry {n} needs a string id")
        fields = {k: v for k, v in entry.items() if k != "id"}
        try:
            request = SubscriptionRequest.model_validate(fields)
        except ValueError as err:
            raise ValueError(f"{path}: subscription {entry['id']!r}: {err}") from None
        store.put_subscription(subscription(entry["id"], request, "config"))
    return len(entries)
