"""``python -m faults``: run the fault-injection harness; exit 1 if any check fails.

    python -m faults --cases 1000 --kills 10 --server-kills 2 --api-kills 2 --sandbox-kills 1

Outbound events are on by default: the sandbox's receiver is subscribed to every event type and
fails a share of deliveries during the chaos window; the run fails if an event is missing or out
of order at the receiver (``--no-events`` to leave them out).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from faults.harness import DEFAULT_POLICY, HarnessConfig, report, run_harness


def parse_args(argv: Sequence[str] | None = None) -> HarnessConfig:
    p = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kills", type=int, default=4, help="worker SIGKILLs (each followed by a restart)")
    p.add_argument("--server-kills", type=int, default=0, help="dev server SIGKILLs (each restarted on its database)")
    p.add_argument("--server-kill", action="store_true", help="the same as --server-kills 1")
    p.add_argument("--api-kills", type=int, default=0, help="API process SIGKILLs (each followed by a restart)")
    p.add_argument(
        "--sandbox-kills", type=int, default=0, help="sandbox SIGKILLs (each restarted on its database)"
    )
    p.add_argument(
        "--multi-share", type=float, default=0.2, help="share of the cases on orders of two or three cases"
    )
    p.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    p.add_argument("--fail-rate", type=float, default=0.2)
    p.add_argument("--slow-rate", type=float, default=0.05)
    p.add_argument("--slow-seconds", type=float, default=35.0)
    p.add_argument("--drop-rate", type=float, default=0.1, help="payouts recorded whose answer is lost")
    p.add_argument("--drop-mode", choices=["error", "disconnect"], default="error")
    p.add_argument(
        "--deadline-scale", type=float, help="multiply the policy's deadlines and reminders (default: cases / 250, at least 1)"
    )
    p.add_argument("--chaos-window", type=float, help="seconds within which the kills happen")
    p.add_argument(
        "--timeout", type=float, help="seconds to wait for every case to end (default: (600 + 1.5 per case) x the deadline scale)"
    )
    p.add_argument("--data-dir", type=Path, help="keep the stack's data and logs here (default: a temp dir)")
    p.add_argument("--no-events", action="store_true", help="no outbound-event subscription and no event check")
    p.add_argument("--receiver-fail-rate", type=float, default=0.2,
                   help="share of event deliveries the receiver answers 503 during the chaos window")
    p.add_argument("--receiver-slow-rate", type=float, default=0.02,
                   help="share of event deliveries the receiver holds past the sender's timeout, then accepts")
    p.add_argument("--receiver-slow-seconds", type=float, default=12.0)
    p.add_argument("--events-drain-timeout", type=float,
                   help="seconds to wait for event deliveries to drain at the end (default: 120 + 0.5 per case)")
    p.add_argument("--events-every-case", action="store_true", help="print the event figures of every case")
    a = p.parse_args(argv)
    return HarnessConfig(
        cases=a.cases,
        seed=a.seed,
        kills=a.kills,
        server_kills=max(a.server_kills, 1 if a.server_kill else 0),
        api_kills=a.api_kills,
        sandbox_kills=a.sandbox_kills,
        multi_share=a.multi_share,
        deadline_scale=a.deadline_scale,
        policy=a.policy,
        fail_rate=a.fail_rate,
        slow_rate=a.slow_rate,
        slow_seconds=a.slow_seconds,
        drop_rate=a.drop_rate,
        drop_mode=a.drop_mode,
        chaos_window=a.chaos_window,
        timeout=a.timeout,
        data_dir=a.data_dir,
        events=not a.no_events,
        receiver_fail_rate=a.receiver_fail_rate,
        receiver_slow_rate=a.receiver_slow_rate,
        receiver_slow_seconds=a.receiver_slow_seconds,
        events_drain_timeout=a.events_drain_timeout,
        events_every_case=a.events_every_case,
        say=lambda text: print(text, flush=True),
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    result = run_harness(config)
    print(report(result, every_case_events=config.events_every_case), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
