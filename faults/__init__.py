"""Fault-injection harness: many scripted cases (some on orders of two or three racing cases)
through a private stack while payments fail, answers get lost after the money moved, and the
worker, the dev server, the API and the sandbox are SIGKILLed and restarted; then checks that
every case ended as expected, every refund was paid exactly once and no order was refunded more
than was paid. See docs/fault-harness.md.

    python -m faults [--cases 1000] [--seed N] [--kills 10] [--server-kills 2] [--api-kills 2]
                     [--sandbox-kills 1] [--multi-share 0.2] [--deadline-scale X] [--policy FILE]
"""

from faults.harness import CaseResult, HarnessConfig, HarnessResult, report, run_harness

__all__ = ["CaseResult", "HarnessConfig", "HarnessResult", "report", "run_harness"]
