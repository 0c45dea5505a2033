"""The worker's runner asks the sandbox for each command's serialization context once between
activations, and otherwise behaves as the sandboxed runner it wraps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.client import WorkflowHistory
from temporalio.worker import (
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER
from runtime.workflow_runner import ContextMemoInstance, ContextMemoRunner
from worker import build_worker
from workflows.case import CaseWorkflow
from workflows.order_ledger import OrderLedgerWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


class FakeInstance(WorkflowInstance):
    """Answers with a fresh object per question and counts the questions; its activation asks
    the wrapper twice, as if the SDK converted payloads while the workflow code ran."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []
        self.wrapper: ContextMemoInstance | None = None

    def activate(self, act: Any) -> Any:
        assert self.wrapper is not None
        self.wrapper.get_serialization_context("during")
        self.wrapper.get_serialization_context("during")
        return "completion"

    def get_serialization_context(self, command_info: Any) -> Any:
        self.asked.append(("context", command_info))
        return object()

    def get_external_store_context(self, command_info: Any) -> Any:
        self.asked.append(("store", command_info))
        return object()

    def get_info(self) -> Any:
        return "info"

    def get_thread_id(self) -> int | None:
        return 7


def wrapped() -> tuple[ContextMemoInstance, FakeInstance]:
    inner = FakeInstance()
    memo = ContextMemoInstance(inner)
    inner.wrapper = memo
    return memo, inner


def test_between_activations_each_command_is_asked_about_once():
    memo, inner = wrapped()
    first = memo.get_serialization_context(("activity", 1))
    assert memo.get_serialization_context(("activity", 1)) is first
    assert memo.get_serialization_context(("activity", 1)) is first
    memo.get_serialization_context(("activity", 2))
    memo.get_serialization_context(None)
    memo.get_serialization_context(None)
    store = memo.get_external_store_context(("activity", 1))
    assert memo.get_external_store_context(("activity", 1)) is store
    assert inner.asked == [("context", ("activity", 1)), ("context", ("activity", 2)), ("context", None),
                           ("store", ("activity", 1))]


def test_an_activation_forgets_every_answer_and_asks_afresh_while_it_runs():
    memo, inner = wrapped()
    before = memo.get_serialization_context(("activity", 1))
    memo.get_external_store_context(("activity", 1))
    assert memo.activate(WorkflowActivation()) == "completion"
    assert inner.asked[-2:] == [("context", "during"), ("context", "during")]  # not remembered meanwhile
    after = memo.get_serialization_context(("activity", 1))
    assert after is not before
    memo.get_external_store_context(("activity", 1))
    assert inner.asked.count(("context", ("activity", 1))) == 2
    assert inner.asked.count(("store", ("activity", 1))) == 2


def test_an_activation_that_raises_still_forgets():
    memo, inner = wrapped()

    def broken(act: Any) -> Any:
        raise RuntimeError("boom")

    inner.activate = broken  # type: ignore[method-assign]
    memo.get_serialization_context(1)
    with pytest.raises(RuntimeError):
        memo.activate(WorkflowActivation())
    memo.get_serialization_context(1)
    memo.get_serialization_context(1)
    assert inner.asked == [("context", 1), ("context", 1)]


def test_the_rest_is_passed_through():
    memo, _ = wrapped()
    assert memo.get_info() == "info"
    assert memo.get_thread_id() == 7


def runner_of(settings: Settings) -> WorkflowRunner:
    worker: Worker = build_worker(None, settings, None)  # type: ignore[arg-type]
    return worker.config()["workflow_runner"]


@pytest.fixture
def client_free_worker(monkeypatch):
    """build_worker without a server: the SDK's Worker checks its client, so hand it a stand-in."""
    import worker as worker_module

    class Captured(dict):
        def config(self) -> dict:
            return self

    monkeypatch.setattr(worker_module, "Worker", lambda client, **kwargs: Captured(kwargs))


@pytest.mark.parametrize(("env", "expected"), [
    ({}, ContextMemoRunner),
    ({"AFTERSALES_REMEMBER_SERIALIZATION_CONTEXTS": "false"}, SandboxedWorkflowRunner),
    ({"AFTERSALES_WORKFLOW_SANDBOX": "false"}, UnsandboxedWorkflowRunner),
])
def test_the_worker_runs_workflows_sandboxed_and_remembering_by_default(client_free_worker, env, expected):
    runner = runner_of(Settings(**env))
    assert type(runner) is expected
    if isinstance(runner, ContextMemoRunner):
        assert isinstance(runner.inner, SandboxedWorkflowRunner)


class Counting(WorkflowRunner):
    """Counts the context questions that reach the sandbox."""

    def __init__(self, inner: WorkflowRunner) -> None:
        self.inner = inner
        self.questions = 0

    def prepare_workflow(self, defn: Any) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        instance = self.inner.create_instance(det)
        ask, ask_store = instance.get_serialization_context, instance.get_external_store_context

        def counted(command_info: Any) -> Any:
            self.questions += 1
            return ask(command_info)

        def counted_store(command_info: Any) -> Any:
            self.questions += 1
            return ask_store(command_info)

        instance.get_serialization_context = counted  # type: ignore[method-assign]
        instance.get_external_store_context = counted_store  # type: ignore[method-assign]
        return instance


async def replay_counting(path: Path, remember: bool) -> int:
    from temporalio.worker import Replayer

    counting = Counting(SandboxedWorkflowRunner())
    runner: WorkflowRunner = ContextMemoRunner(counting) if remember else counting
    replayer = Replayer(workflows=[CaseWorkflow, OrderLedgerWorkflow], data_converter=DATA_CONVERTER,
                        workflow_runner=runner)
    result = await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()),
                                            raise_on_replay_failure=True)
    assert result.replay_failure is None
    return counting.questions


async def test_a_recorded_case_replays_with_under_half_the_sandbox_round_trips():
    path = HISTORIES / "v6-case-version-at-start" / "case-h-return.json"
    plain, remembered = await replay_counting(path, False), await replay_counting(path, True)
    assert plain > 50
    assert remembered < plain / 2
