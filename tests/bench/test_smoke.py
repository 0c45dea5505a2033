"""The benchmarks work: every one of them, at a tiny size, through ``python -m bench`` on its own
stacks. The figures are not judged here (they are noise at this size and on a shared machine);
what must hold is that each benchmark runs to its end and measures what it says it measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cost import CASE_TYPES

pytestmark = [pytest.mark.timeout(420), pytest.mark.usefixtures("own_event_store")]

PROJECT = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "all", "--cases", "6", "--concurrency", "3", "--samples", "1",
         "--lead", "10", "--sizes", "5,10", "--rate", "5", "--duration", "2", "--clients", "2",
         "--variants", "defaults,2 workers", "--pairs", "1", "--json", str(out)],
        cwd=PROJECT, capture_output=True, text=True, timeout=400,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(out.read_text())

    assert figures["throughput"]["ours_per_s"] > 0 and figures["throughput"]["baseline_per_s"] > 0
    sides = [r["side"] for r in figures["throughput"]["rounds"]]
    assert sides.count("ours") == sides.count("baseline") > 0  # every round is reported
    # The client driving the cases is measured beside the stack (the providers too; at this size
    # their CPU can be below /proc's 10 ms tick).
    assert all(r["driver_cpu_s"] > 0 and r["providers_cpu_s"] >= 0 for r in figures["throughput"]["rounds"])

    for case_type in CASE_TYPES:
        cost = figures["cost"][case_type]
        assert cost["same_calls"], f"the baseline makes other Temporal calls than a {case_type} case: {cost}"
        assert cost["calls"]["activities"] >= 3 and cost["calls"]["updates"] >= 2
        assert cost["payload_bytes"] > 0 and cost["events"] > 0

    storm = figures["storm"]
    assert storm["cases"] == 6
    assert storm["ours"]["min"] >= 0, "a refund was paid before its merchant's deadline ran out"
    assert storm["baseline"]["min"] >= 0
    assert storm["floor"]["min"] >= 0
    assert storm["same_calls"], (storm["ours_calls"], storm["baseline_calls"])
    assert all(worker > 0 and server > 0 for worker, server in storm["cpu_seconds"].values())

    sizes = figures["open"]["sizes"]
    assert [s["cases"] for s in sizes] == [5, 10]
    assert sizes[1]["db_mib"] > sizes[0]["db_mib"] and figures["open"]["db_kib_per_case"] > 0

    (latency,) = figures["latency"]["runs"]
    assert latency["commands"] == 10 and latency["errors"] == 0

    assert set(figures["tuning"]) == {"defaults", "2 workers"}
    for variant in figures["tuning"].values():  # CPU is read off every worker process
        assert variant["per_s"] > 0 and variant["worker_cpu_ms"] > 0
        assert variant["worker_peak_mib"] > 30 and variant["server_peak_mib"] > 30  # a Python and a Go process
    # Two worker processes at the default cache hold more than one does.
    assert figures["tuning"]["2 workers"]["worker_peak_mib"] > figures["tuning"]["defaults"]["worker_peak_mib"]
    events = figures["events"]  # off and on, interleaved; every event of the "on" cases delivered
    assert [r["side"] for r in events["rounds"]] == ["off", "on"]
    assert events["delivered"] > 0 and events["undelivered"] == 0
    # Both sides record (views; events too when on): tests/casefeed/test_events_switch.py counts them exactly.
    assert events["shapes"]["off"]["markers"] > 0 and events["shapes"]["on"]["markers"] > 0
    assert "ratio ours/baseline" in run.stdout and "p99 ours/baseline" in run.stdout

    queue = figures["queue"]  # the workbench's queue page, rendered 50 times per page
    assert queue["cases"] == 6 and set(queue["pages"]) == {"first page", "filtered", "page 1"}
    assert all(p["p50_ms"] > 0 and p["cpu_ms"] > 0 for p in queue["pages"].values())
