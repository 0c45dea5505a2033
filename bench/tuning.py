"""Tuning: the throughput benchmark (our cases only) under one setting changed at a time.

Each variant runs on a fresh stack, so the database starts empty every time. The settings are
the worker's (``runtime.settings.Settings``, by environment variable) and the dev server's
SQLite pragmas and dynamic config. A variant's environment reaches every process of the stack,
so ``GOGC`` tunes the dev server's Go runtime. The first variant is the shipped defaults; the
docs/capacity.md explains each default by its row here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bench import throughput
from bench.stack import StackOptions, memory_kib, running_stack
from runtime.temporal import SEARCH_ATTRIBUTES_REREAD


@dataclass
class Variant:
    name: str
    why: str
    pragmas: tuple[str, ...] | None = None  # None: the defaults
    #: Environment of every process in the stack: the worker's settings, or e.g. GOGC for the server.
    worker_env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    dynamic_config: tuple[str, ...] = ()


VARIANTS = [
    Variant("defaults", "WAL + synchronous=normal, the server's search-attribute cache, shared workflow "
            "modules, cache 125, 5+5 pollers, Python's GC thresholds"),
    Variant("sqlite: no pragmas", "the dev server's own SQLite defaults (rollback journal, synchronous=full)", pragmas=()),
    Variant("server: attributes re-read", "the CLI's own default: the dev server reads the search-attribute "
            f"definitions from its database at every use ({SEARCH_ATTRIBUTES_REREAD})",
            dynamic_config=(f"{SEARCH_ATTRIBUTES_REREAD}=true",)),
    Variant("modules reloaded per run", "the SDK's default sandbox", worker_env={"AFTERSALES_SHARE_WORKFLOW_MODULES": "false"}),
    Variant("gc 5000/10/100", "rarer garbage collections (Python's are 700,10,10)",
            worker_env={"AFTERSALES_GC_THRESHOLDS": "5000,10,100"}),
    Variant("no workflow sandbox", "workflows run without the SDK's sandbox",
            worker_env={"AFTERSALES_WORKFLOW_SANDBOX": "false"}),
    Variant("cache 500", "four times the default cache (the default until 2026-11-23)",
            worker_env={"AFTERSALES_MAX_CACHED_WORKFLOWS": "500"}),
    Variant("cache 20", "fewer cached workflows than cases in flight", worker_env={"AFTERSALES_MAX_CACHED_WORKFLOWS": "20"}),
    Variant("2 workers", "two worker processes, each with the default cache", workers=2),
    Variant("diagnostic: no upserts", "the cases' search-attribute upserts skipped (BENCH_WITHOUT_UPSERTS; "
            "not a setting: what keeping them current costs)", worker_env={"BENCH_WITHOUT_UPSERTS": "1"}),
    Variant("eager activities", "the dev server hands an activity to the worker that scheduled it "
            "(system.enableActivityEagerExecution)", dynamic_config=("system.enableActivityEagerExecution=true",)),
    Variant("pollers 2+2", "fewer workflow and activity task pollers",
            worker_env={"AFTERSALES_WORKFLOW_TASK_POLLERS": "2", "AFTERSALES_ACTIVITY_TASK_POLLERS": "2"}),
    Variant("pollers 10+10", "more workflow and activity task pollers",
            worker_env={"AFTERSALES_WORKFLOW_TASK_POLLERS": "10", "AFTERSALES_ACTIVITY_TASK_POLLERS": "10"}),
    Variant("server GOGC=200", "the dev server's Go garbage collector runs half as often (Go's default is "
            "100): less server CPU for more server memory", worker_env={"GOGC": "200"}),
]


@dataclass
class TuningRow:
    variant: Variant
    rate: float
    worker_cpu_ms: float
    server_cpu_ms: float
    worker_peak_mib: float = 0.0  # peak resident memory over the run (summed over worker processes)
    server_peak_mib: float = 0.0


def measure(cases: int, concurrency: int, names: list[str] | None = None, say=print) -> list[TuningRow]:  # noqa: ANN001
    rows = []
    for variant in VARIANTS:
        if names and variant.name not in names:
            continue
        options = StackOptions(worker_env=variant.worker_env, workers=variant.workers,
                               dynamic_config=variant.dynamic_config)
        if variant.pragmas is not None:
            options.sqlite_pragmas = variant.pragmas
        with running_stack(options, say=say) as bench:
            result = asyncio.run(throughput.measure(bench, cases, concurrency, sides=("ours",)))
            worker_peak, server_peak = (memory_kib(pids)["VmHWM"] / 1024
                                        for pids in (bench.worker_pids(), bench.server_pid()))
        worker_ms, server_ms, *_ = result.cpu_ms_per_case()
        rows.append(TuningRow(variant, result.ours_rate, worker_ms, server_ms, worker_peak, server_peak))
        say(f"  {variant.name:<26} {result.ours_rate:6.1f} cases/s")
    return rows
