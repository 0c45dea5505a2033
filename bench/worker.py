"""The benchmarks' worker: the product's worker (same code, same settings) plus the baseline
workflows, so both sides of every comparison run in one process with one configuration."""

from __future__ import annotations

import worker
from bench.baseline import BASELINE_WORKFLOWS

if __name__ == "__main__":
    worker.main(extra_workflows=BASELINE_WORKFLOWS)
