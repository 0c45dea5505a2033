"""Replay the committed histories (tests/histories) against today's workflow code.

The histories are recorded from the code by one command (it replaces them):

    .venv/bin/python -m tests.workflows.record_histories

Until cases run in production, a change to the workflows' command sequence regenerates them.
After that, such a change goes behind ``workflow.patched()`` (or worker versioning) and the old
histories stay: without the patch, this test fails with a nondeterminism error, as the control
below shows with a deliberately changed workflow. Replay compares commands, not their contents:
an upsert with other values, or another activity input, passes here, so what a case upserts is
tested on the dev server (``test_search_attributes.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER
from tests.versioning.changed_case import UnguardedCase
from worker import workflow_runner
from workflows.case import CaseWorkflow
from workflows.order_ledger import OrderLedgerWorkflow

ROOT = Path(__file__).resolve().parent.parent / "histories"
HISTORIES = sorted(ROOT.glob("*.json"))
CASE_HISTORIES = [p for p in HISTORIES if p.stem.startswith("case.")]


def test_there_are_histories_of_every_recorded_story():
    assert {p.stem for p in HISTORIES} >= {"case.shop-1.h-timeout", "case.shop-1.h-return", "case.shop-1.h-exchange",
                                           "case.shop-1.h-dispute", "case.shop-1.h-attention",
                                           "case.shop-1.h-slow-payout", "case.shop-1.h-quiet", "order.shop-1.o-h-return"}


async def replay(path: Path, case_workflow: type = CaseWorkflow, runner: str = "sdk") -> None:
    """Replay one history; raises on any replay failure (nondeterminism included)."""
    # Both the SDK's default runner and the one the worker runs workflows with.
    replayer = Replayer(workflows=[case_workflow, OrderLedgerWorkflow], data_converter=DATA_CONVERTER,
                        workflow_runner=workflow_runner(Settings()) if runner == "worker"
                        else SandboxedWorkflowRunner())
    await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()),
                                   raise_on_replay_failure=True)


@pytest.mark.parametrize("runner", ["sdk", "worker"])
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path, runner: str):
    await replay(path, runner=runner)


@pytest.mark.parametrize("path", CASE_HISTORIES, ids=[p.stem for p in CASE_HISTORIES])
async def test_a_changed_command_sequence_fails_the_replay(path: Path):
    """The control: the same replay against a workflow with one more step at its start."""
    with pytest.raises(NondeterminismError):
        await replay(path, UnguardedCase)
