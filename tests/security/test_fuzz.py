"""Schema-driven fuzzing of the HTTP API with schemathesis, from the app's own ``/openapi.json``.

Every documented operation gets schema-valid (positive) and schema-invalid (negative) requests,
sent to the served app with a valid token of a rotating role. Each response must:

- never be a 5xx (``not_a_server_error``);
- use a status code, content type and body shape the schema documents for that operation;
- for a schema-invalid request, be refused (``negative_data_rejection``);
- for a refused command (status >= 400), leave the case as it was: same ``version``, same
  timeline. The commands target real cases (in several states, replaced when they end), so
  refusals come from every layer: auth, role, payload, state, engine validators.
- for a refused ``POST /v1/cases``, leave no case behind under the requested ``case_id``.

A second run sends every operation while the Temporal server is killed: only 503s (with
``Retry-After``) for what needs the engine, 4xx for what the edge refuses, nothing else.

The examples are the same on every run (``derandomize``), so CI is stable; set
``AFTERSALES_FUZZ_RANDOM=1`` to explore fresh, more numerous examples (that is how the
``deadline_before`` bug in ``test_bad_input.py`` was found).

The fuzzer runs in a thread (schemathesis calls are synchronous ``requests``) while the event
loop keeps serving the app and the worker. Shrinking is off: the server is stateful, so a failure
is reported as found (the request is printed) rather than minimized.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.client import Client
from temporalio.service import RetryConfig

from http_api import create_app
from http_api.access import ACTION_ROLES
from runtime.temporal import DATA_CONVERTER, connect, dev_server_args, temporal_cli_path
from tests.api.conftest import WEBHOOK_SECRET, api_settings, case_body, token, uid
from tests.sandbox.test_server import free_port
from tests.support.serve import serve

#: CI runs the same examples every time; ``AFTERSALES_FUZZ_RANDOM=1`` explores new ones (and more of them).
RANDOM = os.environ.get("AFTERSALES_FUZZ_RANDOM") == "1"
#: Examples per operation and generation mode; 24 operations x 2 modes keeps the run well under a minute.
EXAMPLES = 40 if RANDOM else 10
ROLES = ("system", "staff", "buyer", "supervisor", "platform", "operator")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
#: With the engine down: the answers must still be documented (503/504 are), but a schema-invalid
#: request that the edge does not refuse reaches the engine and gets 503, so no rejection check.
DOWN_CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
DOWN_EXAMPLES = 20 if RANDOM else 5
CASE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SETTLED = {"refunding"}  # a state the case leaves by itself (the payout): no before/after comparison
ENDED = {"refunded", "completed", "closed", "needs_attention"}


class Cases:
    """A few live cases in different states for the command routes; an ended one is replaced."""

    def __init__(self, http: requests.Session, base_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self.live: list[str] = []

    def _post(self, path: str, body: dict[str, Any], who: str) -> dict[str, Any]:
        response = self.http.post(self.base_url + path, json=body, headers=auth(who), timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def fresh(self, situation: str) -> str:
        case_id = uid("fz")
        kind = "refund_only" if situation == "offer" else "return_refund"
        self._post("/v1/cases", case_body(case_id, type=kind), "system")
        if situation == "offer":
            self._post(f"/v1/cases/{case_id}/offer_partial_refund", {"amount": 2_000}, "staff")
        elif situation == "in_transit":
            self._post(f"/v1/cases/{case_id}/approve", {}, "staff")
            self._post(
                f"/v1/cases/shop-1:{case_id}/submit_return_shipment", {"carrier": "sf", "tracking_number": uid("SF")}, "buyer"
            )
        return case_id

    def fill(self) -> None:
        self.live = [self.fresh(s) for s in ("decision", "offer", "in_transit", "decision")]

    def pick(self, index: int) -> tuple[str, dict[str, Any]]:
        """A live case and its snapshot as it is now (the "before" of a request sent next)."""
        position = index % len(self.live)
        case_id = self.live[position]
        now = snapshot(self.http, self.base_url, case_id)
        if now["state"] in ENDED:
            case_id = self.live[position] = self.fresh("decision")
            now = snapshot(self.http, self.base_url, case_id)
        return case_id, now


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(who)}"}


def snapshot(http: requests.Session, base_url: str, case_id: str) -> dict[str, Any]:
    response = http.get(f"{base_url}/v1/cases/shop-1:{case_id}", headers=auth("operator"), timeout=30)
    if response.status_code == 404:
        return {"exists": False}
    assert response.status_code == 200, response.text
    view = response.json()
    return {"exists": True, "state": view["state"], "version": view["version"], "timeline": len(view["timeline"])}


def raw_body(case: schemathesis.Case) -> bytes:
    body = case.body
    if isinstance(body, bytes):
        return body
    if body is None or type(body).__name__ == "NotSet":
        return b""
    return json.dumps(body).encode()


def run_operation(
    schema: Any,
    path: str,
    method: str,
    mode: GenerationMode,
    base_url: str,
    cases: Cases,
    failures: list[str],
    seen_statuses: set[int],
) -> None:
    operation = schema[path][method]
    is_command = path.startswith("/v1/cases/{case_id}/")
    reads_case = path == "/v1/cases/{case_id}"
    http = requests.Session()
    # Half the time a role that may take the action, so requests get past the role check.
    likely = sorted(r.value for r in ACTION_ROLES[path.rsplit("/", 1)[1]]) if is_command else ["system"]
    who_strategy = st.one_of(st.sampled_from(likely), st.sampled_from(ROLES))

    @given(case=operation.as_strategy(generation_mode=mode), who=who_strategy, pick=st.integers(0, 7))
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case, who: str, pick: int) -> None:
        case.headers = {**(case.headers or {}), **auth(who)}
        target: str | None = None
        before: dict[str, Any] | None = None
        if is_command or (reads_case and pick < 4):
            target, before = cases.pick(pick)
            # The global reference: every role may name the case so (its id alone: only shop-1's staff).
            case.path_parameters = {**(case.path_parameters or {}), "case_id": f"shop-1:{target}"}
        opened_id = None
        if path == "/v1/cases" and method == "POST" and isinstance(case.body, dict):
            candidate = case.body.get("case_id")
            if isinstance(candidate, str) and CASE_ID.fullmatch(candidate):
                opened_id = candidate
        if opened_id:
            before = snapshot(http, base_url, opened_id)

        if path == "/v1/courier/events":  # signed, or every request would stop at the signature
            raw = raw_body(case)
            headers = {
                "Content-Type": case.media_type or "application/json",
                "X-Signature": hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest(),
            }
            response = http.post(base_url + path, data=raw, headers=headers, timeout=30)
        else:
            response = case.call(base_url=base_url, session=http, timeout=30)
        if is_command:
            seen_statuses.add(response.status_code)
        where = f"{mode.value} {case.method} {case.formatted_path} as {who}: {response.status_code}"
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as err:  # noqa: BLE001 - collected, reported together below
            failures.append(f"{where}\n  body={str(case.body)[:300]}\n  answer={response.text[:300]}\n  {err}")
            return
        if response.status_code >= 400 and before is not None:
            after = snapshot(http, base_url, target or opened_id)  # type: ignore[arg-type]
            if target and before["state"] not in SETTLED and after != before:
                failures.append(f"{where}: refused, yet the case changed: {before} -> {after}")
            if opened_id and not before["exists"] and after["exists"]:
                failures.append(f"{where}: refused, yet case {opened_id} exists now")

    try:
        fuzz()
    except hypothesis.errors.Unsatisfiable:
        # Nothing to make invalid (no parameters, no body: the health checks); positive mode covers it.
        assert mode == GenerationMode.NEGATIVE, f"{method} {path}: no {mode.value} examples"


@pytest.mark.timeout(600 if RANDOM else 120)
async def test_fuzz_every_operation_from_the_schema(api):
    schema_document = (await api.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(schema_document)
    operations = [(op.path, op.method.upper()) for op in (r.ok() for r in schema.get_all_operations())]
    assert len(operations) >= 20, operations  # open, read, list, every action, courier, health
    failures: list[str] = []
    seen_statuses: set[int] = set()

    def fuzz_all() -> None:
        http = requests.Session()
        cases = Cases(http, api.base_url)
        cases.fill()
        for path, method in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                run_operation(schema, path, method, mode, api.base_url, cases, failures, seen_statuses)

    await asyncio.to_thread(fuzz_all)
    assert not failures, f"{len(failures)} problems:\n" + "\n\n".join(failures[:25])
    # The fuzzing reached every layer: the role check, payload validation, the engine's state
    # checks, and commands that went through.
    assert {200, 403, 409, 422} <= seen_statuses, seen_statuses


# --------------------------------------------------------------------------------------------
# The same operations while the Temporal server is down


def _dev_server(port: int, db: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [temporal_cli_path(), "server", "start-dev", "--db-filename", db, "--ip", "127.0.0.1", "--port", str(port),
         "--headless", *dev_server_args(), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def _until(probe: Any, within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(Exception):
            if await probe():
                return
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(300)
async def test_fuzz_while_temporal_is_down_answers_503_and_no_other_5xx(tokens_file, tmp_path):
    """Every operation, schema-valid and invalid, while the dev server is killed: a request that
    needs the engine gets 503 with ``Retry-After`` and ``may_have_applied`` (documented, so the
    schema checks hold); one refused at the edge keeps its 4xx; no other 5xx. Then the server
    comes back on its database and the same app is ready again by itself."""
    port = free_port()
    db = str(tmp_path / "temporal.db")
    server = _dev_server(port, db)
    try:
        address = f"127.0.0.1:{port}"
        await _until(lambda: connect(address), 60, "the dev server")
        # The project's client, retrying a refused connection for 1 s instead of the SDK's 10 s
        # before the API answers 503: the answers are under test here, not the retry window.
        client = await Client.connect(
            address,
            data_converter=DATA_CONVERTER,
            retry_config=RetryConfig(max_elapsed_time_millis=1000, max_retries=3),
        )
        app = create_app(api_settings(tokens_file, TEMPORAL_ADDRESS=address), client=client)
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
            assert (await http.get("/readyz")).status_code == 200
            schema = schemathesis.openapi.from_dict((await http.get("/openapi.json")).json())
            server.send_signal(signal.SIGKILL)
            await asyncio.to_thread(server.wait)

            failures: list[str] = []
            unavailable: set[str] = set()
            operations = [op for op in (r.ok() for r in schema.get_all_operations())]

            def fuzz_all() -> None:
                session = requests.Session()
                for operation in operations:
                    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                        _fuzz_down(operation, mode, base_url, session, failures, unavailable)

            await asyncio.to_thread(fuzz_all)
            assert not failures, f"{len(failures)} problems:\n" + "\n\n".join(failures[:25])
            # Reads, openings, commands and courier events all reached the engine and got 503.
            assert {"POST /v1/cases", "POST /v1/courier/events"} <= unavailable
            assert any(op.startswith("POST /v1/cases/{case_id}/") for op in unavailable), unavailable
            # Few fuzzed lists pass the edge, and an operator's fuzzed case id is rarely a
            # {shop_id}:{case_id} reference (a bare one is a 422 at the edge): asked directly.
            for path in ("/v1/cases", "/v1/cases/shop-1:nobody-here"):
                answer = await http.get(path, headers=auth("operator"))
                assert answer.status_code == 503 and answer.headers["Retry-After"].isdigit(), answer.text

            server = _dev_server(port, db)
            await _until(lambda: _ready(http), 90, "the API to be ready again")
            again = await http.get("/v1/cases/shop-1:nobody-here", headers=auth("operator"))
            assert again.status_code == 404, again.text
    finally:
        server.kill()
        server.wait()


def _header(response: Any, name: str) -> str:
    """A header of a ``requests`` or schemathesis response (its headers: lists by lowercase name)."""
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return ""


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200


def _fuzz_down(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    session: requests.Session,
    failures: list[str],
    unavailable: set[str],
) -> None:
    name = f"{operation.method.upper()} {operation.path}"
    is_command = operation.path.startswith("/v1/cases/{case_id}/")
    likely = sorted(r.value for r in ACTION_ROLES[operation.path.rsplit("/", 1)[1]]) if is_command else ["system"]

    @given(
        case=operation.as_strategy(generation_mode=mode),
        who=st.one_of(st.sampled_from(likely), st.sampled_from(ROLES)),
    )
    @hypothesis.settings(
        max_examples=DOWN_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case, who: str) -> None:
        case.headers = {**(case.headers or {}), **auth(who)}
        if operation.path == "/v1/courier/events":
            raw = raw_body(case)
            headers = {
                "Content-Type": case.media_type or "application/json",
                "X-Signature": hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest(),
            }
            response = session.post(base_url + operation.path, data=raw, headers=headers, timeout=60)
        else:
            response = case.call(base_url=base_url, session=session, timeout=60)
        where = f"{mode.value} {case.method} {case.formatted_path} as {who}: {response.status_code}"
        problem = None
        if response.status_code == 503:
            unavailable.add(name)
            if operation.path != "/readyz" and not _header(response, "Retry-After").isdigit():
                problem = "503 without Retry-After"
        elif response.status_code >= 500:
            problem = "a 5xx other than 503 while the engine is down"
        try:
            case.validate_response(response, checks=DOWN_CHECKS)
        except (Exception, BaseExceptionGroup) as err:  # noqa: BLE001 - collected, reported together
            problem = f"{problem or ''} {err}"
        if problem:
            failures.append(f"{where}\n  body={str(case.body)[:300]}\n  answer={response.text[:300]}\n  {problem}")

    try:
        fuzz()
    except hypothesis.errors.Unsatisfiable:
        assert mode == GenerationMode.NEGATIVE, f"{name}: no {mode.value} examples"
