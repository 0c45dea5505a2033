"""``aftersales dev`` gives each worker a metrics port and prints where every /metrics is."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.dev import Child, DevStack, free_ports


def test_the_dev_stack_prints_where_metrics_are_scraped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launched: list[tuple[Child, dict[str, str]]] = []
    monkeypatch.setattr(DevStack, "_launch", lambda self, child, env: launched.append((child, env)))
    monkeypatch.setattr(DevStack, "_wait", lambda self, child, probe: None)
    monkeypatch.setattr(DevStack, "_check_alive", lambda self, child: None)
    monkeypatch.setattr("cli.dev.time.sleep", lambda seconds: None)
    temporal_port, ui_port, api_port, sandbox_port = free_ports(4)
    stack = DevStack(data_dir=tmp_path, say=lambda _: None, workers=2, worker_metrics=True,
                     temporal_port=temporal_port, ui_port=ui_port, api_port=api_port, sandbox_port=sandbox_port)
    stack.start()
    addresses = [env["AFTERSALES_WORKER_METRICS"] for child, env in launched if child.name.startswith("worker")]
    assert len(set(addresses)) == 2
    assert all("AFTERSALES_WORKER_METRICS" not in env for child, env in launched if not child.name.startswith("worker"))
    banner = stack.banner()
    assert f"http://127.0.0.1:{api_port}/metrics" in banner
    assert all(f"http://{address}/metrics" in banner for address in addresses)


def test_benchmark_stacks_leave_worker_metrics_off(tmp_path: Path) -> None:
    assert DevStack(data_dir=tmp_path).worker_metrics is False
