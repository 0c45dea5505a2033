"""All configuration in one pydantic-settings class (environment variables and a ``.env`` file).

Names are the ones in ``shared/API.md``; production changes only the values.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.durations import parse_duration
from domain.policy import Policy, load_policy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    temporal_address: str = Field(default="localhost:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field(default="aftersales", alias="AFTERSALES_TASK_QUEUE")
    policy_path: str | None = Field(default=None, alias="AFTERSALES_POLICY")
    tokens_path: str | None = Field(default=None, alias="AFTERSALES_TOKENS")
    payment_url: str = Field(default="http://127.0.0.1:8700/payments", alias="PAYMENT_URL")
    courier_url: str = Field(default="http://127.0.0.1:8700/courier", alias="COURIER_URL")
    notify_url: str = Field(default="http://127.0.0.1:8700/notify", alias="NOTIFY_URL")
    courier_webhook_secret: str = Field(default="dev-courier-secret", alias="COURIER_WEBHOOK_SECRET")
    http_timeout_seconds: float = Field(default=10.0, gt=0, alias="AFTERSALES_HTTP_TIMEOUT")
    # Worker tuning; the defaults are justified by the benchmarks (README, "Capacity").
    # Above the cases a worker has in flight at once; every cached case lengthens the worker's
    # garbage-collection pauses, which are the command latency's tail (125: p99 139 ms, 500: 344).
    max_cached_workflows: int = Field(default=125, ge=0, alias="AFTERSALES_MAX_CACHED_WORKFLOWS")
    workflow_task_pollers: int = Field(default=5, ge=1, alias="AFTERSALES_WORKFLOW_TASK_POLLERS")
    activity_task_pollers: int = Field(default=5, ge=1, alias="AFTERSALES_ACTIVITY_TASK_POLLERS")
    max_concurrent_workflow_tasks: int = Field(default=100, ge=1, alias="AFTERSALES_MAX_CONCURRENT_WORKFLOW_TASKS")
    share_workflow_modules: bool = Field(default=True, alias="AFTERSALES_SHARE_WORKFLOW_MODULES")
    max_concurrent_activities: int = Field(default=100, ge=1, alias="AFTERSALES_MAX_CONCURRENT_ACTIVITIES")
    workflow_sandbox: bool = Field(default=True, alias="AFTERSALES_WORKFLOW_SANDBOX")
    #: Ask the sandbox for a command's serialization context once between activations, and not at
    #: all without a payload codec or external storage (``runtime.workflow_runner``); ``false`` runs
    #: the SDK's sandboxed runner as it is.
    remember_serialization_contexts: bool = Field(default=True, alias="AFTERSALES_REMEMBER_SERIALIZATION_CONTEXTS")
    #: Python's garbage-collector thresholds in the worker, ``gen0,gen1,gen2``; unset or ``python``
    #: keeps Python's own (700, 10, 10), which the benchmarks kept (README, "Capacity").
    gc_thresholds: tuple[int, int, int] | None = Field(default=None, alias="AFTERSALES_GC_THRESHOLDS")
    gc_log_pause_seconds: float = Field(default=0.2, gt=0, alias="AFTERSALES_GC_LOG_PAUSE")
    # Outbound events (casefeed): the event store both the worker and the API open, the
    # configured subscriptions, how long a delivery is retried, and whether this worker delivers.
    events_dsn: str = Field(default="sqlite:///.data/events.sqlite3", alias="AFTERSALES_EVENTS_DSN")
    subscriptions_path: str | None = Field(default=None, alias="AFTERSALES_SUBSCRIPTIONS")
    event_retry_for: timedelta = Field(default=timedelta(days=3), alias="AFTERSALES_EVENT_RETRY_FOR")
    event_dispatch: bool = Field(default=True, alias="AFTERSALES_EVENT_DISPATCH")
    #: Inbound courier events: how far a signed ``X-Signature-Timestamp`` may be from now.
    courier_timestamp_tolerance: timedelta = Field(default=timedelta(minutes=5),
                                                   alias="AFTERSALES_COURIER_TIMESTAMP_TOLERANCE")

    #: Inbound courier events without ``X-Signature-Timestamp`` (the older scheme, replayable):
    #: accepted while this is false; set it once every courier signs the timestamp.
    courier_require_timestamp: bool = Field(default=False, alias="AFTERSALES_COURIER_REQUIRE_TIMESTAMP")
    #: How long a parcel's workflow waits, idle, for a claim or a scan; unclaimed scans expire then.
    parcel_keep_for: timedelta = Field(default=timedelta(days=30), alias="AFTERSALES_PARCEL_KEEP_FOR")

    @field_validator("event_retry_for", "courier_timestamp_tolerance", "parcel_keep_for", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("gc_thresholds", mode="before")
    @classmethod
    def _thresholds(cls, value: object) -> object:
        hint = "three whole numbers like 5000,10,100 (or 'python' for Python's own)"
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip()
            if text.lower() in ("", "python", "default"):
                return None
            value = [p.strip() for p in text.strip("()[]").split(",")]
        if not isinstance(value, list | tuple) or len(value) != 3:
            raise ValueError(f"{hint}, not {value!r}")
        numbers = []
        for part in value:
            if isinstance(part, bool) or not (isinstance(part, int) or (isinstance(part, str) and part.isdigit())):
                raise ValueError(f"{hint}, not {value!r}")
            if int(part) < 0:
                raise ValueError(f"{hint}, not {value!r}: a threshold cannot be negative")
            numbers.append(int(part))
        return tuple(numbers)

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.policy_path)
