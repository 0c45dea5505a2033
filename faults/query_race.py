"""A history the live worker writes but no replayer can replay: a query answered on a restarted
worker after a timer fired, then signals, before the next workflow task (temporalio 1.35).

    python -m faults.query_race                      # 5 runs of the reproduction and its control
    python -m faults.query_race --runs 20 --seed 3 --arms worker+query,worker,server+query -v

A tiny workflow of its own (not the project's): ``RaceWorkflow`` sleeps on a timer, then runs the
activity ``after_timer``; each ``poke`` signal runs the activity ``on_signal``. Each run starts a
worker process on a dev server (free ports, a temporary directory), lets the workflow's first task
complete (the run is cached on that worker, its sticky queue set), then, per arm:

``worker+query`` (reproduces: the replay fails)
    1. SIGKILL the worker; restart it (a new process, nothing cached) within a second;
    2. query the workflow (``status``): the server first offers the query to the dead worker's
       sticky queue, gives up after the sticky schedule-to-start timeout (10 s, the SDK's
       default) and puts it on the normal task queue;
    3. meanwhile the timer fires (1-4 s after the kill): ``TimerFired``, ``WorkflowTaskScheduled``
       -- that task waits on the dead worker's sticky queue (10 s, then it times out and moves);
    4. the restarted worker gets the query with the full history, which ends with the fired timer
       and the scheduled (not started) workflow task. It answers ``woke=True``: the timer's
       wake-up ran in the query's activation, on a workflow task that had not started;
    5. two ``poke`` signals, right after the answer (before that workflow task starts);
    6. the workflow task (timer fired, two signals) runs: the live worker completes it with
       ``after_timer`` first (already produced in the query's activation), then ``on_signal``
       twice. Replaying the history gives the replayer the timer and the signals in one
       activation; in temporalio's legacy job order (no single-batch flag in these histories) the
       signals run first, so it expects ``on_signal`` where the history has ``after_timer``:
       "Nondeterminism error: Activity type of scheduled event 'after_timer' does not match
       activity type of activity command 'on_signal'".

Controls, the same steps with one thing changed:

``worker``                       no query (signals at the moment the query's answer came):
                                 replays.
``worker+query+early-signals``   the signals come before the query reaches the worker (they are in
                                 its history too, so everything lands in one activation): replays.
``none+query``                   no kill: the query (held in the handler for 2 s) is in flight
                                 while the timer fires, signals during the hold; the query goes
                                 to the live worker's sticky queue without history: replays.
``server+query``                 SIGKILL and restart the dev server instead (0.5-1 s down; the
                                 worker stays up with the run cached), the query sent during the
                                 outage and retried: replays.
``server-long+query``            the same with 4-8 s down: replays.
``server+stalled-worker+query``  the worker (which has the run cached) is also stopped (SIGSTOP)
                                 from the server kill until 12 s after the restart, as a worker
                                 too busy to poll; the query handler holds 2 s: the query finds no
                                 sticky poller, the server drops the sticky queue, and the timer's
                                 task goes to the normal queue, where the worker takes it before
                                 the query: replays.
``server+stalled-worker+query+timer-in-outage``  the same, the timer firing while the server is
                                 down and the worker stopped 3 s: the cached run, too, sometimes
                                 runs the timer's wake-up in the query's activation, but its
                                 workflow task starts at once (before the signals): replays.

The summary counts, per arm, the runs whose replay fails and the runs in which the query's
answer shows the timer's wake-up run on a history that ends before the workflow task following
the fired timer started (the SDK's part of the bug; a failing replay needs, in addition, signals
between that answer and the start of that workflow task).

Each run prints its timeline, what the query answered (``woke`` is whether the timer's wake-up
had run; ``history`` is the history length that the query's activation saw) and what the worker
printed when it ran the timer's wake-up and each signal (the history length of that activation:
in a reproduction, the timer's wake-up ran in the query's activation, before the workflow task
started), then the replay's verdict. Exit status 1 when a run's timeline did not happen as planned
(e.g. the workflow did not complete in time), else 0 (whatever the verdicts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker

TEMPORAL = Path(sys.executable).parent / "temporal"
HOST = "127.0.0.1"


@activity.defn
async def after_timer() -> str:
    return "after the timer"


@activity.defn
async def on_signal() -> str:
    return "on a signal"


@workflow.defn(sandboxed=False)
class RaceWorkflow:
    """Timer ``seconds`` -> activity ``after_timer``; signal ``poke`` -> activity ``on_signal``;
    ends when two pokes were handled. Query ``status``: ``woke=<timer fired> pokes=<n>
    history=<length>``; it holds its answer for ``$QUERY_RACE_HOLD`` seconds and appends a line
    to ``$QUERY_RACE_MARK`` when it starts (the worker process sets both)."""

    def __init__(self) -> None:
        self.woke = False
        self.pokes = 0
        self.handled = 0

    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        self.woke = True
        _say(f"timer's wake-up runs (history length {workflow.info().get_current_history_length()})")
        await workflow.execute_activity(after_timer, start_to_close_timeout=timedelta(seconds=10))
        await workflow.wait_condition(lambda: self.handled >= 2 and workflow.all_handlers_finished())
        return "done"

    @workflow.signal
    async def poke(self) -> None:
        self.pokes += 1
        _say(f"signal {self.pokes} runs (history length {workflow.info().get_current_history_length()})")
        await workflow.execute_activity(on_signal, start_to_close_timeout=timedelta(seconds=10))
        self.handled += 1

    @workflow.query
    def status(self) -> str:
        answer = f"woke={self.woke} pokes={self.pokes} history={workflow.info().get_current_history_length()}"
        mark = os.environ.get("QUERY_RACE_MARK")
        if mark:
            with open(mark, "a") as out:
                out.write(answer + "\n")
        hold = float(os.environ.get("QUERY_RACE_HOLD") or 0)
        if hold:
            time.sleep(hold)  # a slow answer, on purpose (the worker runs in debug mode)
        return answer


def _say(text: str) -> None:
    """What the live worker does, on its stdout (not while replaying)."""
    if not workflow.unsafe.is_replaying():
        print(f"worker: {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """``temporal server start-dev`` on free ports and a SQLite file (restartable on it)."""

    def __init__(self, directory: Path) -> None:
        self.db = directory / "temporal.db"
        self.log = directory / "temporal.log"
        self.port = free_port()
        self.ui_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(TEMPORAL), "server", "start-dev", "--db-filename", str(self.db), "--ip", HOST,
                 "--port", str(self.port), "--ui-port", str(self.ui_port), "--headless", "--log-level", "error"],
                stdout=log, stderr=log, start_new_session=True)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    async def connect(self, within: float = 60) -> Client:
        deadline = time.monotonic() + within
        while True:
            try:
                return await Client.connect(self.address)
            except RuntimeError:
                if time.monotonic() > deadline or not self.running():
                    raise
                await asyncio.sleep(0.2)


class WorkerProc:
    """A worker process (``python -m faults.query_race --worker ADDRESS QUEUE``)."""

    def __init__(self, address: str, queue: str, log: Path, mark: Path, hold: float = 0.0) -> None:
        self.log = log
        env = {**os.environ, "QUERY_RACE_HOLD": str(hold), "QUERY_RACE_MARK": str(mark)}
        self._out: IO[bytes] = open(log, "ab")  # noqa: SIM115 (closed in kill)
        self.proc = subprocess.Popen([sys.executable, "-m", "faults.query_race", "--worker", address, queue],
                                     env=env, stdout=self._out, stderr=self._out, start_new_session=True)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # also when stopped
            self.proc.wait()
        self._out.close()

    def said(self) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines() if line.startswith("worker: ")]


async def worker_main(address: str, queue: str) -> None:
    client = await Client.connect(address)
    # debug_mode: no deadlock detection, so that the query handler may hold its answer.
    worker = Worker(client, task_queue=queue, workflows=[RaceWorkflow], activities=[after_timer, on_signal],
                    workflow_runner=UnsandboxedWorkflowRunner(), debug_mode=True)
    await worker.run()


@dataclass(frozen=True)
class Arm:
    name: str
    #: what is SIGKILLed and restarted: "worker", "server" or "none"
    fault: str
    query: bool
    #: seconds the query handler holds its answer
    hold: float = 0.0
    #: seconds the server stays down (drawn uniformly)
    down: tuple[float, float] = (0.5, 1.0)
    #: send the signals as soon as the timer fired (with a query: before it is answered)
    signals_early: bool = False
    #: server arms: the worker is stopped (SIGSTOP) from the server kill until this long after the
    #: restart (0: not stopped), as a worker too busy to poll
    stall: float = 0.0
    #: when the timer fires, seconds after the fault (drawn uniformly)
    fire: tuple[float, float] = (1.0, 4.0)


ARMS = {
    arm.name: arm
    for arm in (
        Arm("worker+query", "worker", True),
        Arm("worker", "worker", False),
        Arm("worker+query+early-signals", "worker", True, signals_early=True),
        Arm("none+query", "none", True, hold=2.0),
        Arm("server+query", "server", True),
        Arm("server-long+query", "server", True, down=(4.0, 8.0)),
        Arm("server+stalled-worker+query", "server", True, hold=2.0, stall=12.0),
        Arm("server+stalled-worker+query+timer-in-outage", "server", True, hold=2.0, down=(3.0, 4.0), fire=(1.0, 2.0),
            stall=3.0),
    )
}

#: Arms without a query send their signals this long after the fault: when the query's answer
#: comes in the same arm with a query (about 10.3 s after a worker kill: the sticky queue's
#: schedule-to-start timeout).
SIGNAL_AT = {"worker": 10.5, "server": 2.0, "none": 4.0}


@dataclass
class Outcome:
    arm: str
    run: int
    #: "split" (the replay fails), "ok" (it replays) or "broken" (the timeline did not happen)
    verdict: str
    detail: str = ""
    query_answer: str | None = None
    timeline: list[str] = field(default_factory=list)
    worker_said: list[str] = field(default_factory=list)
    history: WorkflowHistory | None = None
    #: the query's answer shows the timer's wake-up run on a history that ends before the
    #: workflow task that follows the fired timer started
    early_wakeup: bool = False


def _early_wakeup(outcome: Outcome) -> bool:
    if outcome.history is None or outcome.query_answer is None or "woke=True" not in outcome.query_answer:
        return False
    seen = int(outcome.query_answer.rsplit("history=", 1)[1])
    fired = next(e.event_id for e in outcome.history.events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED)
    started = next(e.event_id for e in outcome.history.events
                   if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and e.event_id > fired)
    return seen < started


async def _has_event(handle: WorkflowHandle[RaceWorkflow, str], kind: EventType.ValueType) -> bool:
    with contextlib.suppress(RPCError):
        async for event in handle.fetch_history_events():
            if event.event_type == kind:
                return True
    return False


async def _wait_event(handle: WorkflowHandle[RaceWorkflow, str], kind: EventType.ValueType,
                      within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await _has_event(handle, kind):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {EventType.Name(kind)} within {within:.0f}s")
        await asyncio.sleep(0.05)


async def trial(server: Server, arm: Arm, run: int, rng: random.Random, workdir: Path) -> Outcome:
    """One run of ``arm`` on ``server`` (which it may kill and restart, but leaves running)."""
    queue = f"race-{run}-{uuid.uuid4().hex[:8]}"
    mark = workdir / f"{queue}.mark"
    outcome = Outcome(arm.name, run, "broken")
    began = time.monotonic()

    def note(text: str) -> None:
        outcome.timeline.append(f"{time.monotonic() - began:6.2f}s {text}")

    fire_at = rng.uniform(*arm.fire)  # the timer fires this long after the fault
    client = await server.connect()
    workers = [WorkerProc(server.address, queue, workdir / f"{queue}.1.log", mark, arm.hold)]
    answered = asyncio.Event()
    query_task: asyncio.Task[None] | None = None

    async def query() -> None:
        note("query sent")
        for tries in range(1, 61):  # as an API does: retry while the server is down
            try:
                outcome.query_answer = await client.get_workflow_handle(f"wf-{queue}").query(
                    RaceWorkflow.status, rpc_timeout=timedelta(seconds=60))
            except RPCError as err:
                failure = repr(err)
                await asyncio.sleep(0.5)
                continue
            note(f"query answered ({tries} tries): {outcome.query_answer}")
            break
        else:
            note(f"query failed: {failure}")
        answered.set()

    try:
        handle = await client.start_workflow(RaceWorkflow.run, fire_at + 3.0, id=f"wf-{queue}", task_queue=queue)
        await _wait_event(handle, EventType.EVENT_TYPE_TIMER_STARTED)
        await asyncio.sleep(3.0)  # the timer now fires in fire_at seconds
        began = time.monotonic()
        if arm.fault == "worker":
            workers[0].kill()
            note(f"worker SIGKILLed (the timer fires at about {fire_at:.2f}s)")
            if arm.query:
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                query_task = asyncio.create_task(query())
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            workers.append(WorkerProc(server.address, queue, workdir / f"{queue}.2.log", mark, arm.hold))
            note("worker restarted")
        elif arm.fault == "server":
            server.kill()
            note(f"dev server SIGKILLed (the timer fires at about {fire_at:.2f}s)")
            if arm.stall:
                workers[0].proc.send_signal(signal.SIGSTOP)
                note("worker stopped (SIGSTOP)")
            if arm.query:
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                query_task = asyncio.create_task(query())
            await asyncio.sleep(rng.uniform(*arm.down))
            server.start()
            client = await server.connect()
            handle = client.get_workflow_handle(f"wf-{queue}", result_type=str)
            note("dev server restarted")
            if arm.stall:
                await asyncio.sleep(arm.stall)
                workers[0].proc.send_signal(signal.SIGCONT)
                note("worker continued (SIGCONT)")
        else:
            note(f"no fault (the timer fires at about {fire_at:.2f}s)")
            if arm.query:
                await asyncio.sleep(max(0.0, fire_at - 0.5))
                query_task = asyncio.create_task(query())
        await _wait_event(handle, EventType.EVENT_TYPE_TIMER_FIRED)
        note("timer fired (seen in the history)")
        if arm.signals_early:
            pass
        elif query_task is not None:
            # Right after the answer (with a hold: while the handler holds it).
            while not (answered.is_set() or (arm.hold and mark.exists())):  # noqa: ASYNC110 (a file, too)
                await asyncio.sleep(0.02)
        else:
            await asyncio.sleep(max(0.0, SIGNAL_AT[arm.fault] - (time.monotonic() - began)))
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        for _ in range(2):
            await handle.signal(RaceWorkflow.poke)
        note("two signals sent")
        if query_task is not None:
            await query_task
        await asyncio.wait_for(handle.result(), 60)
        note("workflow completed")
        outcome.history = await handle.fetch_history()
    except Exception as err:  # the timeline did not happen: say why, keep going
        outcome.detail = repr(err)[:300]
        return outcome
    finally:
        if query_task is not None:
            query_task.cancel()
        for worker in workers:
            worker.kill()
        outcome.worker_said = [f"{name}: {line}" for name, worker in zip(("first", "restarted"), workers, strict=False)
                               for line in worker.said()]
    outcome.early_wakeup = _early_wakeup(outcome)
    result = await Replayer(workflows=[RaceWorkflow], workflow_runner=UnsandboxedWorkflowRunner()).replay_workflow(
        outcome.history, raise_on_replay_failure=False)
    if result.replay_failure is None:
        outcome.verdict = "ok"
    else:
        outcome.verdict = "split"
        outcome.detail = str(result.replay_failure).split('message: "')[-1].split('"')[0][:300]
    return outcome


def describe(events: Sequence[HistoryEvent]) -> list[str]:
    """One line per event: id, seconds since the first, type, activity type or task queue kind."""
    t0 = events[0].event_time.ToDatetime().timestamp()
    lines = []
    for e in events:
        extra = ""
        if e.HasField("activity_task_scheduled_event_attributes"):
            extra = e.activity_task_scheduled_event_attributes.activity_type.name
        elif e.HasField("workflow_task_scheduled_event_attributes"):
            extra = "sticky queue" if e.workflow_task_scheduled_event_attributes.task_queue.kind == 2 else "normal queue"
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        lines.append(f"{e.event_id:3} {e.event_time.ToDatetime().timestamp() - t0:6.2f}s {name} {extra}".rstrip())
    return lines


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults.query_race", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs of each arm (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the timings (default 1)")
    parser.add_argument("--arms", default="worker+query,worker",
                        help=f"comma-separated, of: {', '.join(ARMS)} (default worker+query,worker)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each run's history too")
    args = parser.parse_args(argv)
    unknown = [name for name in args.arms.split(",") if name not in ARMS]
    if unknown:
        parser.error(f"unknown arm {', '.join(unknown)}; the arms are {', '.join(ARMS)}")
    arms = [ARMS[name] for name in args.arms.split(",")]
    rng = random.Random(args.seed)
    results: dict[str, list[Outcome]] = {arm.name: [] for arm in arms}
    with tempfile.TemporaryDirectory(prefix="query-race-") as tmp:
        server = Server(Path(tmp))
        server.start()
        try:
            for run in range(args.runs):
                for arm in arms:
                    outcome = await trial(server, arm, run, rng, Path(tmp))
                    results[arm.name].append(outcome)
                    early = " (the query ran the timer's wake-up early)" if outcome.early_wakeup else ""
                    print(f"run {run} {arm.name}: {outcome.verdict}{early} {outcome.detail}", flush=True)
                    for line in outcome.timeline + outcome.worker_said:
                        print(f"    {line}")
                    if args.verbose and outcome.history is not None:
                        for line in describe(outcome.history.events):
                            print(f"      {line}")
                    if not server.running():
                        server.start()
        finally:
            server.kill()
    print()
    for name, outcomes in results.items():
        split = sum(o.verdict == "split" for o in outcomes)
        broken = sum(o.verdict == "broken" for o in outcomes)
        ahead = sum(o.early_wakeup for o in outcomes)
        print(f"{name:28} replay fails {split}/{len(outcomes)}; the query ran the timer's wake-up before its "
              f"workflow task started {ahead}/{len(outcomes)}" + (f"; timeline broken {broken}" if broken else ""))
    return 1 if any(o.verdict == "broken" for outcomes in results.values() for o in outcomes) else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        asyncio.run(worker_main(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(asyncio.run(main()))
