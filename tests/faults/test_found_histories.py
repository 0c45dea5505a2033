"""Histories the fault harness caught failing to replay, kept as reproducers.

``signal-and-poll-timer-in-one-task``: a return case (harness kind ``return_courier``, run with
every fault kind). One workflow task carried the courier-poll timer firing (event 35), a
notification activity completing late (38, the sandbox had been killed) and the courier's
parcel signal (39). Live, the timer won: the case polled the courier (activity, event 42).
On replay the signal's version change satisfied ``_wait_for_next_alarm``'s condition first, so
the code started a new timer instead: ``Timer machine does not handle this event:
HistoryEvent(id: 42, ActivityTaskScheduled)``. Whether a ``wait_condition`` with a timeout ends
by the timeout or by the condition must not depend on the order of jobs within one activation.
The workflow code is not the fault harness's to change: this test is expected to fail until
it is fixed, and then (strict) tells whoever fixes it to drop the mark.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from runtime.temporal import DATA_CONVERTER
from workflows.case import CaseWorkflow
from workflows.order_ledger import OrderLedgerWorkflow

HISTORIES = Path(__file__).resolve().parent / "histories"


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="nondeterminism found by the fault harness; see the module docstring")
async def test_signal_and_poll_timer_in_one_task_replays() -> None:
    path = HISTORIES / "signal-and-poll-timer-in-one-task.json"
    replayer = Replayer(workflows=[CaseWorkflow, OrderLedgerWorkflow], data_converter=DATA_CONVERTER)
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
