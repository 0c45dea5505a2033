"""What every request meets before any case logic: tokens, bodies, limits, error shapes, docs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from domain.models import Principal, Role
from http_api import TokensError, create_app, load_tokens
from http_api.bodies import DEFAULT_MAX_BODY_BYTES
from runtime.settings import Settings
from tests.api.conftest import api_settings, case_body, serve, uid

ROOT = Path(__file__).resolve().parents[2]


async def test_no_token_is_401_with_a_challenge(api):
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
        response = await api.http.get("/v1/cases/anything", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["detail"]


async def test_unknown_token_is_401_invalid_token(api):
    response = await api.http.get("/v1/cases", headers={"Authorization": "Bearer tok-staf"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    # Auth comes before the body: an unauthenticated POST learns nothing about its body.
    response = await api.http.post("/v1/cases", content=b"not json", headers={"Content-Type": "text/plain"})
    assert response.status_code == 401


async def test_health_needs_no_token(api):
    assert (await api.http.get("/healthz")).json() == {"ok": True, "temporal": "connected"}
    assert (await api.http.get("/readyz")).status_code == 200


async def test_body_must_be_json(api):
    body = json.dumps(case_body(uid())).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {**api.auth("system"), **({"Content-Type": content_type} if content_type else {})}
        response = await api.http.post("/v1/cases", content=body, headers=headers)
        assert response.status_code == 415, (content_type, response.text)
    # ... also for a command's payload (an empty body needs no content type: {} is meant).
    opened = await api.opened()
    response = await api.http.post(
        f"/v1/cases/{opened['case_id']}/reject",
        content=b"reason=no",
        headers={**api.auth("staff"), "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    response = await api.http.post(
        "/v1/cases", content=body, headers={**api.auth("system"), "Content-Type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b"null",
        b"\xff\xfe",
        b"[" * 50_000 + b"]" * 50_000,
        b'{"case_id": ' + b"9" * 5000 + b"}",
        b"",
    ],
)
async def test_unusable_bodies_are_422_never_500(api, raw):
    response = await api.http.post(
        "/v1/cases", content=raw, headers={**api.auth("system"), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body"


async def test_oversize_body_is_413(api):
    big = case_body(uid(), description="x" * (DEFAULT_MAX_BODY_BYTES + 1))
    response = await api.open(big)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]

    async def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 8192
        yield b"{}"

    response = await api.http.post(
        "/v1/cases", content=chunks(), headers={**api.auth("system"), "Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_unknown_paths_and_methods_answer_json(api):
    response = await api.http.get("/v2/cases", headers=api.auth("staff"))
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    response = await api.http.delete("/v1/cases/x", headers=api.auth("staff"))
    assert response.status_code == 405


async def test_openapi_documents_routes_bodies_and_errors(api):
    schema = (await api.http.get("/openapi.json")).json()
    paths = schema["paths"]
    assert {"/v1/cases", "/v1/cases/{case_id}", "/v1/cases/{case_id}/approve", "/v1/courier/events"} <= set(paths)
    approve = paths["/v1/cases/{case_id}/approve"]["post"]
    assert approve["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ApproveCommand")
    assert {"200", "403", "404", "409", "422"} <= set(approve["responses"])
    components = schema["components"]["schemas"]
    for name in (
        "CaseRequest",
        "CaseView",
        "CasePage",
        "ApproveCommand",
        "ExtendDeadlineCommand",
        "CourierEvent",
        "ConflictProblem",
        "ValidationProblem",
    ):
        assert name in components, name
    assert "expected_version" in components["RejectCommand"]["properties"]
    assert "reason" in components["RejectCommand"]["required"]
    assert "HTTPValidationError" not in json.dumps(schema)
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert (await api.http.get("/docs")).status_code == 200


# --------------------------------------------------------------------------------------------
# The tokens file


def test_load_tokens_reads_principals(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(
        json.dumps(
            {"abc123": {"role": "staff", "id": "alice", "shop_id": "shop-1"}, "def456": {"role": "buyer", "id": "b-1"}}
        )
    )
    tokens = load_tokens(path)
    assert tokens["abc123"] == Principal(role=Role.STAFF, id="alice", shop_id="shop-1")
    assert tokens["def456"].role == Role.BUYER


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{oops", "not valid JSON"),
        ("[]", "must hold a JSON object"),
        ('{"secret-token": {"role": "king", "id": "x"}}', "role"),
        ('{"secret-token": {"role": "staff", "id": "x"}}', "needs a shop_id"),
        ('{"secret-token": {"role": "buyer"}}', "id"),
        ('{"secret-token": {"role": "buyer", "id": "b", "extra": 1}}', "extra"),
        ('{"with space": {"role": "buyer", "id": "b"}}', "whitespace"),
    ],
)
def test_load_tokens_says_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "tokens.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TokensError) as caught:
        load_tokens(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "secret-token" not in str(caught.value)  # tokens are secrets: only a prefix is shown


def test_an_app_needs_tokens():
    with pytest.raises(TokensError, match="AFTERSALES_TOKENS"):
        create_app(Settings(AFTERSALES_TOKENS=None))


async def test_the_app_connects_by_itself_when_it_starts(dev_server, tokens_file):
    address = dev_server.client.service_client.config.target_host
    app = create_app(api_settings(tokens_file, TEMPORAL_ADDRESS=address))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        assert (await http.get("/readyz")).json() == {"ok": True, "temporal": "serving"}
        response = await http.get("/v1/cases/shop-1:nope", headers={"Authorization": "Bearer tok-operator"})
        assert response.status_code == 404


def test_python_m_http_api_help():
    result = subprocess.run(
        [sys.executable, "-m", "http_api", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--port" in result.stdout


async def test_engine_failures_answer_json(dev_server, tokens_file):
    class Broken:
        def __init__(self, error: Exception) -> None:
            self.error = error

        async def view(self, case_id: str):  # noqa: ANN201
            raise self.error

    app = create_app(api_settings(tokens_file), client=dev_server.client)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        headers = {"Authorization": "Bearer tok-operator"}
        for error, status in (
            (RPCError("down", RPCStatusCode.UNAVAILABLE, b""), 503),
            (RPCError("slow", RPCStatusCode.DEADLINE_EXCEEDED, b""), 504),
            # the engine failing on its side, or the connection cut mid-call: its fault, 503
            (RPCError("odd", RPCStatusCode.INTERNAL, b""), 503),
            (RPCError("transport error", RPCStatusCode.UNKNOWN, b""), 503),
            (RPCError("overloaded", RPCStatusCode.RESOURCE_EXHAUSTED, b""), 503),
            # a query while the worker is down (found by the fault harness killing the worker)
            (RPCError("no poller seen for task queue recently, worker may be down", RPCStatusCode.FAILED_PRECONDITION, b""), 503),
            # a call of ours the engine finds malformed is our bug
            (RPCError("bad", RPCStatusCode.INVALID_ARGUMENT, b""), 500),
            # the SDK's rpc_timeout, and an update whose outcome is unknown: 504, never a 500
            (RPCError("Timeout expired", RPCStatusCode.CANCELLED, b""), 504),
            (WorkflowUpdateRPCTimeoutOrCancelledError(), 504),
            (RuntimeError("bug"), 500),
        ):
            app.state.api.service = Broken(error)
            response = await http.get("/v1/cases/shop-1:c-1", headers=headers)
            assert response.status_code == status, error
            assert any(word in response.json()["detail"] for word in ("operators", "retry", "read the case"))
            if status in (503, 504):
                assert response.headers["Retry-After"] == "2", error
                assert response.json()["may_have_applied"] is False, error  # a read applies nothing


async def test_before_temporal_is_connected(tokens_file):
    app = create_app(api_settings(tokens_file, TEMPORAL_ADDRESS="127.0.0.1:1"))  # lifespan not run
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        assert (await http.get("/healthz")).json() == {"ok": True, "temporal": "connecting"}
        assert (await http.get("/readyz")).status_code == 503
        response = await http.get("/v1/cases/shop-1:c-1", headers={"Authorization": "Bearer tok-operator"})
        assert response.status_code == 503
