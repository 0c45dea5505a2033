"""The benchmarks' own arithmetic and options, without a stack."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from bench import __main__ as bench_main
from bench.stack import DEFAULT_PRAGMAS, cpu_seconds, memory_kib
from bench.throughput import schedule


def test_each_side_runs_every_case_in_alternating_rounds() -> None:
    order = schedule(1000, 4)
    assert [side for side, _ in order] == ["ours", "baseline", "baseline", "ours"] * 2
    runs: Counter[str] = Counter()
    for side, count in order:
        runs[side] += count
    assert runs == {"ours": 1000, "baseline": 1000}


def test_rounds_never_outnumber_cases() -> None:
    order = schedule(3, 4)
    assert all(count >= 1 for _, count in order)
    assert sum(count for side, count in order if side == "ours") == 3
    assert sum(count for side, count in order if side == "baseline") == 3


def test_figures_of_several_processes_are_summed() -> None:
    me = os.getpid()  # read twice: the peak and the CPU time only grow, so the sum lies between
    before, two, after = memory_kib(me), memory_kib([me, me]), memory_kib(me)
    assert before["VmRSS"] > 0 and before["VmHWM"] >= before["VmRSS"]
    assert 2 * before["VmHWM"] <= two["VmHWM"] <= 2 * after["VmHWM"]
    cpu_before, cpu_two, cpu_after = cpu_seconds(me), cpu_seconds([me, me]), cpu_seconds(me)
    assert 2 * cpu_before <= cpu_two <= 2 * cpu_after


def test_the_stack_options_come_from_the_command_line() -> None:
    args = bench_main.parse(["latency", "--workers", "2", "--set", "AFTERSALES_MAX_CACHED_WORKFLOWS=250",
                             "--dynamic-config", "limit.maxIDLength=100", "--sqlite-pragma", "cache_size=-65536"])
    options = bench_main._options(args)
    assert options.workers == 2
    assert options.worker_env == {"AFTERSALES_MAX_CACHED_WORKFLOWS": "250"}
    assert options.dynamic_config == ("limit.maxIDLength=100",)
    assert options.sqlite_pragmas == (*DEFAULT_PRAGMAS, "cache_size=-65536")


@pytest.mark.parametrize("flag", ["--set", "--dynamic-config", "--sqlite-pragma"])
def test_a_setting_without_a_value_is_refused_before_any_stack_starts(flag: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main.main(["latency", flag, "cache_size"]) == 2
    assert f"{flag} wants NAME=VALUE, got 'cache_size'" in capsys.readouterr().err


def test_events_rounds_are_interleaved_and_paired_in_order() -> None:
    from bench.events import EventsCost, Round, schedule

    assert schedule(3) == ["off", "on", "on", "off", "off", "on"]
    rounds = [Round(side, 10, seconds, worker_cpu=1.0 if side == "off" else 1.5, server_cpu=2.0, driver_cpu=0.1,
                    providers_cpu=0.1, drain_seconds=0.0)
              for side, seconds in zip(schedule(2), [2.0, 4.0, 2.5, 5.0], strict=True)]
    pairs = EventsCost(10, rounds).pairs
    # Each pair is the n-th off round with the n-th on round, whichever ran first.
    assert [(p.off.seconds, p.on.seconds) for p in pairs] == [(2.0, 4.0), (5.0, 2.5)]
    assert [p.throughput_ratio for p in pairs] == [0.5, 2.0]
    assert [p.cpu_ratio("worker") for p in pairs] == [1.5, 1.5] and pairs[0].cpu_ratio("server") == 1.0
