"""The SDK bug behind the unreplayable histories (tests/workflows/found_histories), on a tiny
workflow of ``faults.query_race``: a worker is SIGKILLed and restarted; a query, offered first to
the dead worker's sticky queue, reaches the restarted worker after the workflow's timer fired, and
temporalio 1.35 runs the timer's wake-up in the query's activation although that workflow task has
not started; two signals before it starts then run in a second activation, and the history the
live worker wrote does not replay. A dev server and worker processes, about 20 s.

The mark is strict: when the history replays (an SDK fix), this test fails; drop the mark then,
and look again at the found histories and how the API queries cases."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from faults.query_race import ARMS, Server, trial

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="temporalio 1.35 runs a fired timer's wake-up in a query's activation before its workflow task starts "
    "(faults/query_race.py)",
)
async def test_a_history_written_while_a_query_raced_a_timer_after_a_worker_kill_replays(tmp_path: Path) -> None:
    server = Server(tmp_path)
    server.start()
    try:
        outcome = await trial(server, ARMS["worker+query"], 0, random.Random(1), tmp_path)
    finally:
        server.kill()
    # The race must have been set up as planned: not an SDK failure if not (a plain error, which
    # the xfail mark does not take).
    if outcome.verdict == "broken" or outcome.query_answer is None or not outcome.query_answer.startswith("woke=True"):
        raise RuntimeError(f"the timeline did not happen: {outcome.detail}\n" + "\n".join(outcome.timeline))
    assert outcome.verdict == "ok", f"{outcome.detail}\n" + "\n".join(outcome.timeline + outcome.worker_said)
