"""Replay the committed histories (tests/histories) against today's workflow code.

A change that alters the command sequence of running workflows must go behind
``workflow.patched()``; without it, this test fails with a nondeterminism error. Replay compares
commands, not their contents: an upsert with other values, or another activity input, passes
here, so what a case upserts is tested on the dev server (``test_search_attributes.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER
from worker import workflow_runner
from workflows.case import CaseWorkflow
from workflows.order_ledger import OrderLedgerWorkflow

ROOT = Path(__file__).resolve().parent.parent / "histories"
HISTORIES = sorted(ROOT.glob("*/*.json"))  # one folder per workflow code version


def test_there_are_histories_of_every_code_version():
    versions = {p.parent.name for p in HISTORIES}
    assert {"v1-clock-alarms", "v2-alarms-by-timer", "v3-search-attributes-at-start",
            "v4-attributes-upserted-when-changed", "v5-payout-listed-when-slow",
            "v6-case-version-at-start"} <= versions
    assert all(len(list((ROOT / v).glob("*.json"))) >= 5 for v in versions)


@pytest.mark.parametrize("runner", ["sdk", "worker"])
@pytest.mark.parametrize("path", HISTORIES, ids=[f"{p.parent.name}/{p.stem}" for p in HISTORIES])
async def test_history_replays(path: Path, runner: str):
    # Both the SDK's default runner and the one the worker runs workflows with (its sandbox
    # settings; with the project's converter, no serialization context asked).
    replayer = Replayer(workflows=[CaseWorkflow, OrderLedgerWorkflow], data_converter=DATA_CONVERTER,
                        workflow_runner=workflow_runner(Settings()) if runner == "worker"
                        else SandboxedWorkflowRunner())
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
