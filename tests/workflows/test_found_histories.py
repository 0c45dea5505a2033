"""Histories the fault harness recorded that do not replay (issue #20/#16), kept as reproducers.

Both come from one run of ``python -m faults --cases 300 --seed 72 --kills 4 --server-kills 2
--api-kills 2 --sandbox-kills 1 --data-dir ...`` (2026-12-07, commit 9e46568 of ``integ``; the
harness logged ``nondeterministic_runs=2``), fetched from the run's dev server afterwards.

``update-after-timer-in-one-task`` (a ``return_counter`` case): one workflow task (events 66-68)
holds an alarm timer firing (65) and the merchant's ``record_inspection`` update. The recorded
commands are the timer's first (69 TimerCanceled, 70 TimerStarted), then the update (71
accepted, 72 completed, 73 pay_refund). Replay fails: ``Update machine does not handle this
event: HistoryEvent(id: 69, TimerCanceled)``, the same failure as the one the harness found
before (there at event 17, history lost).

``signals-after-poll-timer-in-one-task`` (same run): one workflow task (50-53) holds the courier
poll timer firing (49) and two parcel signals (51, 52). Recorded: 55 lookup_parcel (the poll
alarm), 56 TimerCanceled, 57 send_notification (a signal's step). Replay fails: ``Activity type
of scheduled event 'lookup_parcel' does not match activity type of activity command
'send_notification'``.

Why no workflow code can replay them: neither history carries the SDK's single-batch flag, so
replay uses temporalio 1.35's legacy job order, which runs every signal and update of an
activation (and, for an update, allocates its "accepted" command when its task first runs)
before the activation's timers are marked fired. Both recorded sequences have the timer's
commands *before* the signal's or update's, so the live worker must have handled the timer in an
earlier activation than the signals or the update of the same workflow task: the live worker and
the replayer were given the task's jobs split differently. For the first history there is no
order at all in which workflow code could replay it: the update's accepted command is always the
first of that activation.

Both tasks ran on the worker restarted at 16:17:50 after the harness's fourth SIGKILL, on which
neither case was cached yet (their last tasks ran before the kill), and in both cases a look at the case (``GET /v1/cases/...``, a workflow query, 6.4 and 6.5 s under
that load) was being answered when the timer fired (16:17:59.4-16:18:05.9, timers at 16:18:00.7
and 16:18:03.1): the suspect is that answering a query on an uncached run applied the fired
timer ahead of its workflow task. Reproduced since with a workflow of its own by
``python -m faults.query_race`` (``tests/faults/test_query_race.py``): a query that reaches a
restarted worker with a history ending in a fired timer's unstarted workflow task runs the timer's
wake-up in the query's activation. The API no longer queries cases (docs/reliability.md).

The mark is strict: when these replay (a fix in the SDK, or in how we query), drop it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER
from worker import workflow_runner
from workflows.case import CaseWorkflow
from workflows.order_ledger import OrderLedgerWorkflow

FOUND = Path(__file__).resolve().parent / "found_histories"
HISTORIES = sorted(FOUND.glob("*.json"))


def test_the_found_histories_are_here():
    assert {p.stem for p in HISTORIES} == {"update-after-timer-in-one-task", "signals-after-poll-timer-in-one-task"}


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="recorded by a live worker that split one workflow task's jobs (see the module docstring)")
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_found_history_replays(path: Path):
    replayer = Replayer(workflows=[CaseWorkflow, OrderLedgerWorkflow], data_converter=DATA_CONVERTER,
                        workflow_runner=workflow_runner(Settings()))
    result = await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()),
                                            raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
