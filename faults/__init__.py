"""Fault-injection harness: many scripted cases through a private stack while payments fail,
answers get lost after the money moved, the worker is SIGKILLed and the server restarted; then
checks that every case ended as expected and every refund was paid exactly once.

    python -m faults [--cases 200] [--seed N] [--kills 4] [--server-kill] [--policy FILE]
"""

from faults.harness import CaseResult, HarnessConfig, HarnessResult, report, run_harness

__all__ = ["CaseResult", "HarnessConfig", "HarnessResult", "report", "run_harness"]
