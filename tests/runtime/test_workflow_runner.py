"""The worker's runner asks the sandbox for each command's serialization context once between
activations, or never when the data converter uses no context, and otherwise behaves as the
sandboxed runner it wraps."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import PayloadCodec, StorageDriverStoreContext
from temporalio.worker import (
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance as SandboxInstance

import worker as worker_module
from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER
from runtime.workflow_runner import ContextMemoInstance, ContextMemoRunner, contexts_used
from worker import workflow_runner
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


def test_while_an_activation_runs_on_its_thread_nothing_is_remembered():
    # The SDK's deadlock path encodes a failure while the activation's thread may still run.
    memo, inner = wrapped()
    started, release = threading.Event(), threading.Event()

    def blocking(act: Any) -> Any:
        started.set()
        release.wait(5)
        return "completion"

    inner.activate = blocking  # type: ignore[method-assign]
    thread = threading.Thread(target=memo.activate, args=(WorkflowActivation(),))
    thread.start()
    assert started.wait(5)
    memo.get_serialization_context(1)
    memo.get_serialization_context(1)
    release.set()
    thread.join(5)
    assert inner.asked == [("context", 1), ("context", 1)]


def test_with_a_converter_that_uses_no_context_nothing_is_asked():
    inner = FakeInstance()
    memo = ContextMemoInstance(inner, contexts_used=False)
    inner.wrapper = memo
    assert memo.get_serialization_context(("activity", 1)) is None  # the converter as it is
    assert memo.get_external_store_context(("activity", 1)) == StorageDriverStoreContext(target=None)
    assert memo.activate(WorkflowActivation()) == "completion"
    assert inner.asked == []


class NoCodec(PayloadCodec):
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


SANDBOXED = Settings(AFTERSALES_WORKFLOW_SANDBOX=True, AFTERSALES_REMEMBER_SERIALIZATION_CONTEXTS=True)


def test_only_a_codec_or_external_storage_makes_the_runner_ask():
    with_codec = dataclasses.replace(DATA_CONVERTER, payload_codec=NoCodec())
    with_storage = dataclasses.replace(DATA_CONVERTER, external_storage=cast(Any, object()))  # only its presence counts
    assert (contexts_used(DATA_CONVERTER), contexts_used(with_codec), contexts_used(with_storage)) == (False, True, True)
    runners = {name: workflow_runner(SANDBOXED, data_converter=dc)
               for name, dc in (("plain", DATA_CONVERTER), ("codec", with_codec), ("unknown", None))}
    assert {name: r.contexts_used for name, r in runners.items()} == {  # type: ignore[attr-defined]
        "plain": False, "codec": True, "unknown": True}


async def test_the_worker_builds_its_runner_for_the_clients_converter(env, monkeypatch):
    seen = []

    def spy(settings: Settings, workflows: Any, data_converter: Any = None) -> WorkflowRunner:
        seen.append(data_converter)
        return workflow_runner(settings, workflows, data_converter)

    monkeypatch.setattr(worker_module, "workflow_runner", spy)
    with_codec = dataclasses.replace(DATA_CONVERTER, payload_codec=NoCodec())
    client = Client(**{**env.client.config(), "data_converter": with_codec})
    async with httpx.AsyncClient() as http:  # one task queue per worker, as the SDK requires
        worker_module.build_worker(client, SANDBOXED.model_copy(update={"task_queue": "runner-a"}), http)
        worker_module.build_worker(env.client, SANDBOXED.model_copy(update={"task_queue": "runner-b"}), http)
    assert seen == [with_codec, env.client.data_converter]


def test_the_rest_is_passed_through():
    memo, _ = wrapped()
    assert memo.get_info() == "info"
    assert memo.get_thread_id() == 7


@pytest.mark.parametrize(("settings", "expected"), [
    ({"AFTERSALES_WORKFLOW_SANDBOX": True, "AFTERSALES_REMEMBER_SERIALIZATION_CONTEXTS": True}, ContextMemoRunner),
    ({"AFTERSALES_WORKFLOW_SANDBOX": True, "AFTERSALES_REMEMBER_SERIALIZATION_CONTEXTS": False},
     SandboxedWorkflowRunner),
    ({"AFTERSALES_WORKFLOW_SANDBOX": False, "AFTERSALES_REMEMBER_SERIALIZATION_CONTEXTS": True},
     UnsandboxedWorkflowRunner),
])
def test_the_settings_choose_the_runner(settings, expected):
    runner = workflow_runner(Settings(**settings), data_converter=DATA_CONVERTER)
    assert type(runner) is expected


def test_by_default_workflows_run_sandboxed_and_remembering():
    fields = Settings.model_fields
    assert fields["workflow_sandbox"].default is True
    assert fields["remember_serialization_contexts"].default is True


def test_the_sdk_treats_it_as_the_sandboxed_runner_it_is():
    # Debug mode and plugins adjust a SandboxedWorkflowRunner with dataclasses.replace.
    runner = workflow_runner(SANDBOXED, data_converter=DATA_CONVERTER)
    assert isinstance(runner, SandboxedWorkflowRunner)
    relaxed = dataclasses.replace(runner, restrictions=runner.restrictions.with_passthrough_modules("breakpoint_helper"))
    assert type(relaxed) is ContextMemoRunner
    assert "workflows" in relaxed.restrictions.passthrough_modules


def replayer(runner: WorkflowRunner) -> Replayer:
    return Replayer(workflows=[CaseWorkflow, OrderLedgerWorkflow], data_converter=DATA_CONVERTER,
                    workflow_runner=runner)


async def replay(runner: WorkflowRunner, path: Path) -> None:
    result = await replayer(runner).replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()),
                                                    raise_on_replay_failure=True)
    assert result.replay_failure is None


async def test_a_recorded_case_replays_with_under_half_the_sandbox_round_trips_and_none_for_the_worker(monkeypatch):
    asked = [0]
    for name in ("get_serialization_context", "get_external_store_context"):
        ask = getattr(SandboxInstance, name)

        def counted(self: Any, command_info: Any, ask: Any = ask) -> Any:
            asked[0] += 1
            return ask(self, command_info)

        monkeypatch.setattr(SandboxInstance, name, counted)
    path = HISTORIES / "case-h-return.json"
    await replay(SandboxedWorkflowRunner(), path)
    plain, asked[0] = asked[0], 0
    await replay(ContextMemoRunner(), path)
    remembering, asked[0] = asked[0], 0
    await replay(workflow_runner(SANDBOXED, data_converter=DATA_CONVERTER), path)  # no codec, no storage
    assert plain > 50
    assert remembering < plain / 2
    assert asked[0] == 0


class CheckingInstance(ContextMemoInstance):
    """Answers as the memo does, and notes every answer that differs from the sandbox's own."""

    def __init__(self, inner: WorkflowInstance, log: list) -> None:
        super().__init__(inner)
        self.log = log

    def get_serialization_context(self, command_info: Any) -> Any:
        answer = super().get_serialization_context(command_info)
        self.log.append(("context", command_info, answer, self.inner.get_serialization_context(command_info)))
        return answer

    def get_external_store_context(self, command_info: Any) -> Any:
        answer = super().get_external_store_context(command_info)
        self.log.append(("store", command_info, answer, self.inner.get_external_store_context(command_info)))
        return answer


@dataclass(frozen=True)
class CheckingRunner(ContextMemoRunner):
    log: list = field(default_factory=list)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return CheckingInstance(SandboxedWorkflowRunner.create_instance(self, det), self.log)


async def test_every_remembered_answer_is_the_one_the_sandbox_gives_at_that_moment():
    # The project's converter ignores the context, so a wrong one would replay cleanly: compare.
    runner = CheckingRunner()
    for path in sorted(HISTORIES.glob("*.json")):
        await replay(runner, path)
    assert len(runner.log) > 500  # one folder of histories now (was six)
    assert {kind for kind, *_ in runner.log} == {"context", "store"}
    assert [entry for entry in runner.log if entry[2] != entry[3]] == []
