"""``aftersales dev`` as a user runs it: start the stack, open a case over HTTP, let the merchant's
deadline pass, see the automatic refund in the sandbox's ledger, stop with Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.dev import free_ports
from tests.support.factory import request as case_request

PROJECT_ROOT = Path(__file__).resolve().parents[2]

POLICY = """\
version = "e2e-seconds"

[deadlines]
merchant_decision_unshipped = "3s"
satisfaction_followup = "5s"
"""

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120), pytest.mark.usefixtures("own_event_store")]


def wait_for(
    what: str, probe: Callable[[], Any], stack: subprocess.Popen[str], log: Path, timeout: float = 45.0
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            pytest.fail(f"aftersales dev exited with {stack.returncode} while waiting for {what}:\n{log.read_text()}")
        try:
            result = probe()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, int], Path, Path]]:
    temporal, ui, api, sandbox = free_ports(4)
    ports = {"temporal": temporal, "ui": ui, "api": api, "sandbox": sandbox}
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    data = tmp_path / "data"
    log = tmp_path / "dev.out"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "dev",
                "--data-dir",
                str(data),
                "--policy",
                str(policy),
                "--temporal-port",
                str(temporal),
                "--ui-port",
                str(ui),
                "--api-port",
                str(api),
                "--sandbox-port",
                str(sandbox),
            ],
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield process, ports, data, log
    finally:
        if process.poll() is None:  # the test failed before stopping it
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_merchant_ignores_an_unshipped_refund_and_the_payout_lands(stack) -> None:  # noqa: ANN001
    process, ports, data, log = stack
    api = f"http://127.0.0.1:{ports['api']}"
    sandbox = f"http://127.0.0.1:{ports['sandbox']}"
    wait_for("the API", lambda: httpx.get(f"{api}/readyz", timeout=2).status_code == 200, process, log)

    tokens = json.loads((data / "tokens.json").read_text())
    system = next(t for t, p in tokens.items() if p["role"] == "system")
    case_id = f"e2e-{int(time.time() * 1000)}"
    body = case_request(
        datetime.now(UTC), case_id, type="refund_only", reason="changed_mind", order_kwargs={"shipped": False}
    ).model_dump(mode="json", exclude_none=True)
    headers = {"Authorization": f"Bearer {system}"}
    opened = httpx.post(f"{api}/v1/cases", json=body, headers=headers, timeout=30)
    assert opened.status_code == 201, opened.text
    view = opened.json()
    assert (view["state"], view["waiting_on"], view["policy_version"]) == (
        "awaiting_merchant_decision",
        "merchant",
        "e2e-seconds",
    )

    def paid() -> list[dict[str, Any]]:
        ledger = httpx.get(f"{sandbox}/payments/ledger", params={"case_id": case_id}, timeout=5).json()
        return ledger["payouts"]

    payouts = wait_for("the automatic refund in the ledger", paid, process, log, timeout=30)
    assert len(payouts) == 1
    final = wait_for(
        "the case to be refunded",
        lambda: (
            (v := httpx.get(api + opened.headers["Location"], headers=headers, timeout=5).json())["state"] == "refunded"
            and v
        ),
        process,
        log,
        timeout=15,
    )
    assert payouts[0]["amount"] == final["refund"]["amount"] == 10_000  # one of two kettles, no shipping
    assert [e["action"] for e in final["timeline"]][:3] == ["opened", "deadline_expired", "auto_approved"]

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0, log.read_text()
    assert "stopped." in log.read_text()
    for name, port in ports.items():  # every child is gone: its port is free again
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"{name} still listening on {port}"
