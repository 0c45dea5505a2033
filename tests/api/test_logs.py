"""Logs: JSON on request, with the request id and case id in the API and the workflow id,
activity attempt and case id in the worker; no token value in any line."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx

from http_api import create_app
from runtime import logs
from runtime.settings import Settings
from tests.api.conftest import PRINCIPALS, Api, token, uid


@contextlib.contextmanager
def json_lines() -> Iterator[list[dict[str, Any]]]:
    """Every record logged meanwhile, as the JSON log writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


async def test_api_access_log_names_the_request_route_and_case(tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({token(w): p.model_dump(mode="json") for w, p in PRINCIPALS.items()}))
    app = create_app(Settings(AFTERSALES_TOKENS=str(tokens)))  # not connected: case routes answer 503
    transport = httpx.ASGITransport(app=app)
    with json_lines() as lines:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            answer = await http.get("/v1/cases/c-42", headers={"Authorization": f"Bearer {token('staff')}",
                                                               "X-Request-ID": "req-7"})
    assert answer.status_code == 503 and answer.headers["x-request-id"] == "req-7"
    access = [line for line in lines if line["logger"] == "aftersales.access"]
    assert access == [
        {**access[0], "level": "INFO", "request_id": "req-7", "case_id": "c-42", "route": "/v1/cases/{case_id}",
         "method": "GET", "status": 503}
    ]
    assert isinstance(access[0]["duration_ms"], float)
    assert token("staff") not in json.dumps(lines)


async def test_worker_lines_carry_workflow_activity_attempt_and_case(api: Api):
    case_id = uid("logged")
    with json_lines() as lines:
        await api.opened(case_id, type="refund_only", reason="changed_mind", order_kwargs={"shipped": False})
        await api.ok(case_id, "approve", "staff")
        await api.wait_for_state(case_id, "refunded")
    payout = [line for line in lines if line["message"].startswith("payout ") and line.get("case_id") == case_id]
    assert len(payout) == 1, lines
    assert payout[0]["activity"] == "pay_refund" and payout[0]["attempt"] == 1
    assert payout[0]["workflow_id"].endswith(case_id) and payout[0]["workflow_type"] == "Case"
    assert all(token(who) not in json.dumps(lines) for who in PRINCIPALS)


def test_text_lines_append_the_context():
    record = logging.makeLogRecord({"name": "x", "levelno": logging.INFO, "levelname": "INFO", "msg": "hello"})
    token_ = logs.request_id.set("req-9")
    try:
        logs.ContextFilter().filter(record)
    finally:
        logs.request_id.reset(token_)
    assert logs.TextFormatter().format(record).endswith("x: hello [request_id=req-9]")


def test_configure_logging_switches_to_json():
    stream = io.StringIO()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        handler = logs.configure_logging(Settings(AFTERSALES_JSON_LOGS="true"), stream)
        logging.getLogger("t").warning("careful", extra={"shop_id": "shop-1"})
        assert isinstance(handler.formatter, logs.JsonFormatter)
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
        logging.getLogger("uvicorn.access").disabled = False
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["message"] == "careful" and entry["level"] == "WARNING" and entry["shop_id"] == "shop-1"
