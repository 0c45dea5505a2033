"""The dev stack's pieces that need no servers: tokens, environment, ports, failing children."""

from __future__ import annotations

import json
import socket
import stat
import sys
import time
from pathlib import Path

import pytest

from cli.dev import (
    DEMO_POLICY,
    DEMO_PRINCIPALS,
    Child,
    DevStack,
    PortTaken,
    StackError,
    free_ports,
    start_on_free_ports,
    token_for,
    write_demo_tokens,
)
from cli.main import build_parser, main
from domain.policy import load_policy
from runtime.temporal import DEV_SERVER_DYNAMIC_CONFIG
from tests.support.argv import values_of


def test_demo_tokens_cover_every_principal_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    first = write_demo_tokens(path)
    assert sorted((p["role"], p["id"]) for p in first.values()) == sorted((p["role"], p["id"]) for p in DEMO_PRINCIPALS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert {"role": "staff", "id": "alice", "shop_id": "shop-1"} in first.values()
    assert write_demo_tokens(path) == first  # same tokens after a restart
    token_for(first, "alice")
    with pytest.raises(KeyError):
        token_for(first, "alice", role="buyer")


def test_an_old_tokens_file_is_completed_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"mine": {"role": "staff", "id": "alice", "shop_id": "shop-1"}}))
    tokens = write_demo_tokens(path)
    assert tokens["mine"]["id"] == "alice"
    assert len(tokens) == len(DEMO_PRINCIPALS)


def test_children_point_at_this_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_POLICY", "/elsewhere.toml")
    stack = DevStack(data_dir=tmp_path, temporal_port=1, ui_port=2, api_port=3, sandbox_port=4)
    env = stack.env()
    assert env["TEMPORAL_ADDRESS"] == "127.0.0.1:1"
    assert env["PAYMENT_URL"] == "http://127.0.0.1:4/payments"
    assert env["AFTERSALES_TOKENS"] == str(tmp_path / "tokens.json")
    assert "AFTERSALES_POLICY" not in env  # the stack decides: no --policy means the defaults
    stack.policy = DEMO_POLICY
    assert stack.env()["AFTERSALES_POLICY"] == str(DEMO_POLICY)
    assert "AFTERSALES_SHOPS" not in stack.env()
    stack.shops = tmp_path / "shops.toml"
    assert stack.env()["AFTERSALES_SHOPS"] == str(tmp_path / "shops.toml")


def test_the_demo_policy_is_in_seconds_and_minutes() -> None:
    policy = load_policy(DEMO_POLICY)
    assert policy.version == "demo-compressed-1"
    assert policy.deadlines.merchant_decision_unshipped.total_seconds() == 60
    assert max(d.total_seconds() for _, d in policy.deadlines) <= 600


def test_a_busy_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = DevStack(data_dir=tmp_path, api_port=port, say=lambda _: None)
        with pytest.raises(StackError, match=f"port {port} \\(API\\) is already in use"):
            stack._check_ports_free()


def test_a_child_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    stack = DevStack(data_dir=tmp_path, startup_timeout=10, say=lambda _: None)
    child = Child("broken", [sys.executable, "-c", "print('cannot bind'); raise SystemExit(3)"], tmp_path / "b.log")
    child.start({})
    stack.children.append(child)
    with pytest.raises(StackError, match="broken exited with code 3") as caught:
        stack._wait(child, lambda: False)
    assert "cannot bind" in str(caught.value)
    stack.stop()


def test_stop_interrupts_then_kills_what_is_left(tmp_path: Path) -> None:
    messages: list[str] = []
    stack = DevStack(data_dir=tmp_path, say=messages.append)
    stubborn = Child(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal, time\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('handlers', 'set', flush=True)\n"
            "time.sleep(60)",
        ],
        tmp_path / "s.log",
    )
    polite = Child("polite", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "p.log")
    for child in (stubborn, polite):
        child.start({})
        stack.children.append(child)
    for _ in range(100):  # let the stubborn one install its handlers
        if "handlers set" in (tmp_path / "s.log").read_text():
            break
        time.sleep(0.05)
    stack.stop(grace=0.5)
    assert polite.exited() is not None and stubborn.exited() is not None
    assert any("killing it" in m for m in messages), messages


def test_dev_options() -> None:
    args = build_parser().parse_args(["dev", "--data-dir", "d", "--api-port", "9000", "--demo"])
    assert (args.data_dir, args.api_port, args.temporal_port, args.demo, args.workers) == ("d", 9000, 7233, True, 1)
    assert build_parser().parse_args(["dev", "--workers", "3"]).workers == 3


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_a_bad_worker_count_is_refused(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["dev", "--workers", bad])
    assert "argument --workers: expected a whole number of 1 or more" in capsys.readouterr().err


def test_the_stack_starts_as_many_workers_as_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launched: list[Child] = []
    monkeypatch.setattr(DevStack, "_launch", lambda self, child, env: launched.append(child))
    monkeypatch.setattr(DevStack, "_wait", lambda self, child, probe: None)
    monkeypatch.setattr(DevStack, "_check_alive", lambda self, child: None)
    monkeypatch.setattr("cli.dev.time.sleep", lambda seconds: None)
    temporal_port, ui_port, api_port, sandbox_port = free_ports(4)
    stack = DevStack(data_dir=tmp_path, say=lambda _: None, workers=3, dynamic_config=("limit.maxIDLength=100",),
                     temporal_port=temporal_port, ui_port=ui_port, api_port=api_port, sandbox_port=sandbox_port)
    stack.start()
    assert [c.name for c in launched] == ["temporal", "sandbox", "worker", "worker-2", "worker-3", "api"]
    workers = [c for c in launched if c.name.startswith("worker")]
    assert {c.log_path.name for c in workers} == {"worker.log", "worker-2.log", "worker-3.log"}
    assert all(c.argv[1:] == ["-m", "worker"] for c in workers)
    temporal = launched[0].argv
    assert values_of(temporal, "--dynamic-config-value") == [*DEV_SERVER_DYNAMIC_CONFIG, "limit.maxIDLength=100"]
    assert "worker,worker-2,worker-3" in stack.banner()


def test_a_bad_policy_file_stops_dev_before_anything_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text('[deadlines]\nmerchant_decision_unshipped = "soon"\n')
    assert main(["dev", "--data-dir", str(tmp_path / "d"), "--policy", str(bad)]) == 2
    assert "merchant_decision_unshipped" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_a_bad_shops_file_stops_dev_before_anything_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "shops.toml"
    bad.write_text('[shops."s"]\nlocale = "fr"\n')
    assert main(["dev", "--data-dir", str(tmp_path / "d"), "--shops", str(bad)]) == 2
    assert "shops.s.locale" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_sandbox_options_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr("sandbox.__main__.main", lambda argv: seen.append(argv))
    assert main(["sandbox", "--port", "8701", "--fail-rate", "0.2"]) == 0
    assert seen == [["--port", "8701", "--fail-rate", "0.2"]]


def test_unknown_options_are_still_errors_elsewhere(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["show", "c-1", "--port", "1"])
    assert "unrecognized arguments: --port 1" in capsys.readouterr().err


def test_the_banner_says_where_the_aftersales_command_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `aftersales` is in .venv/bin, not on PATH: the hint must be a command that runs as typed.
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "aftersales").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.executable", str(tmp_path / ".venv" / "bin" / "python"))
    stack = DevStack(data_dir=tmp_path / ".data", say=lambda _: None)
    assert "try           .venv/bin/aftersales --as alice list" in stack.banner()


def test_a_port_taken_before_it_is_bound_is_retried_on_fresh_ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """free_ports() finds ports free, but another process may bind one before our child does."""
    started: list[int] = []

    def start(self: DevStack) -> None:
        started.append(self.api_port)
        if len(started) == 1:
            raise PortTaken("sandbox exited with code 3: [Errno 98] address already in use")

    monkeypatch.setattr(DevStack, "start", start)
    monkeypatch.setattr(DevStack, "stop", lambda self, grace=10.0: None)
    stack = start_on_free_ports(lambda ports: DevStack(data_dir=tmp_path, temporal_port=ports[0], ui_port=ports[1],
                                                       api_port=ports[2], sandbox_port=ports[3]))
    assert len(started) == 2 and stack.api_port == started[1]


def test_any_other_start_failure_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def start(self: DevStack) -> None:
        calls.append(1)
        raise StackError("worker exited with code 1: ImportError")

    monkeypatch.setattr(DevStack, "start", start)
    monkeypatch.setattr(DevStack, "stop", lambda self, grace=10.0: None)
    with pytest.raises(StackError, match="ImportError"):
        start_on_free_ports(lambda ports: DevStack(data_dir=tmp_path, api_port=ports[2]))
    assert calls == [1]


def test_a_child_that_could_not_bind_says_its_port_was_taken(tmp_path: Path) -> None:
    class Exited:
        name, log_path = "sandbox", tmp_path / "sandbox.log"

        def exited(self) -> int:
            return 3

        def tail(self) -> str:
            return "ERROR: [Errno 98] error while attempting to bind on address ('127.0.0.1', 1): address already in use"

    with pytest.raises(PortTaken):
        DevStack(data_dir=tmp_path)._check_alive(Exited())  # type: ignore[arg-type]
