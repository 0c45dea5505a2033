"""All configuration in one pydantic-settings class (environment variables and a ``.env`` file).

Names are the ones in ``shared/API.md``; production changes only the values.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.durations import parse_duration
from domain.policy import Policy, load_policy
from notices.readers import Readers, load_readers


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    temporal_address: str = Field(default="localhost:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field(default="aftersales", alias="AFTERSALES_TASK_QUEUE")
    policy_path: str | None = Field(default=None, alias="AFTERSALES_POLICY")
    #: Shops file: each shop's locale and time zone for notices (``notices.readers``); unset: zh-CN.
    shops_path: str | None = Field(default=None, alias="AFTERSALES_SHOPS")
    tokens_path: str | None = Field(default=None, alias="AFTERSALES_TOKENS")
    payment_url: str = Field(default="http://127.0.0.1:8700/payments", alias="PAYMENT_URL")
    courier_url: str = Field(default="http://127.0.0.1:8700/courier", alias="COURIER_URL")
    notify_url: str = Field(default="http://127.0.0.1:8700/notify", alias="NOTIFY_URL")
    courier_webhook_secret: str = Field(default="dev-courier-secret", alias="COURIER_WEBHOOK_SECRET")
    http_timeout_seconds: float = Field(default=10.0, gt=0, alias="AFTERSALES_HTTP_TIMEOUT")
    #: How long the worker keeps trying to reach Temporal at start (a server still starting, a
    #: cluster restarting with the worker) before it gives up and exits 1; 0 tries once.
    connect_wait_seconds: float = Field(default=300.0, ge=0, alias="AFTERSALES_CONNECT_WAIT")
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
    #: Python's garbage-collector thresholds in the worker, ``gen0,gen1,gen2``; unset or ``python``
    #: keeps Python's own (700, 10, 10), which the benchmarks kept (README, "Capacity").
    gc_thresholds: tuple[int, int, int] | None = Field(default=None, alias="AFTERSALES_GC_THRESHOLDS")
    gc_log_pause_seconds: float = Field(default=0.2, gt=0, alias="AFTERSALES_GC_LOG_PAUSE")
    # Outbound events (casefeed): the event store both the worker and the API open, the
    # configured subscriptions, how long a delivery is retried, and whether this worker delivers.
    #: ``on`` (default) or ``off``: whether cases opened from now on make outbound events. Read by
    #: whoever opens cases (the API, ``CaseService``) and fixed in each case's start input, so the
    #: workflow sees it deterministically; a case keeps the choice it opened with.
    events: bool = Field(default=True, alias="AFTERSALES_EVENTS")
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

    # Temporal Cloud and TLS (docs/production.md, "Temporal Cloud"). The names are the ones the
    # Temporal CLI and SDKs read, so one environment serves them all.
    temporal_api_key: SecretStr | None = Field(default=None, alias="TEMPORAL_API_KEY")
    #: TLS without a client certificate (an API key implies it; a client certificate too).
    temporal_tls: bool = Field(default=False, alias="TEMPORAL_TLS")
    temporal_tls_client_cert_path: str | None = Field(default=None, alias="TEMPORAL_TLS_CLIENT_CERT_PATH")
    temporal_tls_client_key_path: str | None = Field(default=None, alias="TEMPORAL_TLS_CLIENT_KEY_PATH")
    #: The CA that signed the server's certificate, when it is not one the system trusts.
    temporal_tls_server_ca_cert_path: str | None = Field(default=None, alias="TEMPORAL_TLS_SERVER_CA_CERT_PATH")
    #: The name to check the server's certificate against, when it differs from the address's host.
    temporal_tls_server_name: str | None = Field(default=None, alias="TEMPORAL_TLS_SERVER_NAME")

    # Operations (docs/production.md): metrics, logs, tracing.
    #: ``host:port`` where the worker serves the Temporal SDK's Prometheus metrics (and ours from
    #: activities and workflows); unset, the worker exports none.
    worker_metrics_address: str | None = Field(default=None, alias="AFTERSALES_WORKER_METRICS")
    #: Seconds the API's ``/metrics`` reuses its count of cases in ``needs_attention``.
    metrics_count_cache_seconds: float = Field(default=10.0, ge=0, alias="AFTERSALES_METRICS_COUNT_CACHE")
    #: One JSON object per log line (for a log pipeline) instead of plain text.
    json_logs: bool = Field(default=False, alias="AFTERSALES_JSON_LOGS")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", alias="AFTERSALES_LOG_LEVEL")
    #: OpenTelemetry tracing of the API, the Temporal client and the worker (needs the ``tracing``
    #: extra); spans go where the standard ``OTEL_EXPORTER_OTLP_*`` variables say.
    tracing: bool = Field(default=False, alias="AFTERSALES_TRACING")

    # Authentication (http_api/auth.py). A tokens file stays the dev default; with a JWKS URL the
    # API also accepts JWTs signed by the marketplace's identity provider.
    jwt_jwks_url: str | None = Field(default=None, alias="AFTERSALES_JWT_JWKS_URL")
    jwt_issuer: str | None = Field(default=None, alias="AFTERSALES_JWT_ISSUER")
    jwt_audience: str | None = Field(default=None, alias="AFTERSALES_JWT_AUDIENCE")
    #: Comma-separated; asymmetric only (a shared-secret algorithm would let anyone with the key mint tokens).
    jwt_algorithms: str = Field(default="RS256,ES256", alias="AFTERSALES_JWT_ALGORITHMS")
    jwt_role_claim: str = Field(default="role", alias="AFTERSALES_JWT_ROLE_CLAIM")
    jwt_id_claim: str = Field(default="sub", alias="AFTERSALES_JWT_ID_CLAIM")
    jwt_shop_claim: str = Field(default="shop_id", alias="AFTERSALES_JWT_SHOP_CLAIM")
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300, alias="AFTERSALES_JWT_LEEWAY")
    #: Signs the list's page tokens when there is no tokens file to derive a key from (JWT only);
    #: every API replica needs the same value.
    page_token_key: SecretStr | None = Field(default=None, alias="AFTERSALES_PAGE_TOKEN_KEY")

    @field_validator(
        "temporal_api_key", "temporal_tls_client_cert_path", "temporal_tls_client_key_path",
        "temporal_tls_server_ca_cert_path", "temporal_tls_server_name", "worker_metrics_address", "jwt_jwks_url",
        "jwt_issuer", "jwt_audience", "page_token_key", mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose files and Helm values pass "" for a setting they leave out.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("jwt_algorithms")
    @classmethod
    def _algorithms(cls, value: str) -> str:
        names = [p.strip() for p in value.split(",") if p.strip()]
        weak = [a for a in names if a[:2] not in ("RS", "ES", "PS", "Ed")]
        if weak or not names:
            raise ValueError(f"asymmetric JWT algorithms only, comma-separated (RS256, ES256, PS256, EdDSA), not {value!r}")
        return ",".join(names)

    @model_validator(mode="after")
    def _complete(self) -> Settings:
        if bool(self.temporal_tls_client_cert_path) != bool(self.temporal_tls_client_key_path):
            raise ValueError(
                "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together: set both for mTLS, or neither"
            )
        if self.jwt_jwks_url and not (self.jwt_issuer and self.jwt_audience):
            raise ValueError(
                "AFTERSALES_JWT_JWKS_URL needs AFTERSALES_JWT_ISSUER and AFTERSALES_JWT_AUDIENCE too: a token is "
                "accepted only from that issuer and for that audience"
            )
        return self

    @property
    def temporal_uses_tls(self) -> bool:
        """Whether clients speak TLS to Temporal (Temporal Cloud always does)."""
        return bool(
            self.temporal_tls
            or self.temporal_api_key
            or self.temporal_tls_client_cert_path
            or self.temporal_tls_server_ca_cert_path
            or self.temporal_tls_server_name
        )

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

    @cached_property
    def readers(self) -> Readers:
        """Who reads notices in which locale and time zone (the shops file)."""
        return load_readers(self.shops_path)
