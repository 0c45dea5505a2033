"""The benchmarks' worker: the product's worker (same code, same settings) plus the baseline
workflows, so both sides of every comparison run in one process with one configuration.

``BENCH_WITHOUT_UPSERTS=1`` is a diagnostic, not a product setting: the cases' own
search-attribute upserts become no-ops (the SDK's patch upsert stays), so the tuning benchmark
can show what keeping the attributes current costs. Cases run that way are not searchable.
"""

from __future__ import annotations

import os

from temporalio import workflow

import worker
from bench.baseline import BASELINE_WORKFLOWS


def _skip_upserts() -> None:
    def no_upsert(*args: object, **kwargs: object) -> None:
        return None

    workflow.upsert_search_attributes = no_upsert  # type: ignore[assignment]


if __name__ == "__main__":
    if os.environ.get("BENCH_WITHOUT_UPSERTS") == "1":
        _skip_upserts()
    worker.main(extra_workflows=BASELINE_WORKFLOWS)
