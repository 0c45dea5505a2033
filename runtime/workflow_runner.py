"""A workflow runner that asks the sandbox for each command's serialization context once.

Around every workflow task the SDK walks the payloads of the activation (decoding) and of the
completion (three passes: encoding, external storage, references). For each payload field it
asks the workflow instance which serialization context applies to the field's command, and the
sandboxed instance answers by ``exec``-ing a code string inside the sandbox, with its import
guards applied and removed around it. That is three or four sandbox round trips for every
payload of every command, summaries included. Remembering the answers takes about a tenth off
the worker's CPU per case, measured by replaying recorded histories (README, "Capacity").

The answer cannot change while no workflow code runs: the context of a command is read from the
instance's state (its pending activities, children and external signals), and that state only
changes inside :meth:`WorkflowInstance.activate`. So the instances of :class:`ContextMemoRunner`
remember each answer from the end of one activation to the start of the next, and ask the
sandbox afresh whenever workflow code runs (during an activation, every time). Everything else
is the sandboxed runner's, so the sandbox and its checks are the same.

Only two parts of those passes use the answer: a payload codec and external payload storage
(the payload converter gets its context inside the workflow, not from here). A worker whose data
converter has neither, like this project's, gives no answer at all (``None``: the converter as
it is, and no storage target), so the sandbox is never asked; that took another 13 % off
replaying a case. This rests on how temporalio 1.35 uses the answers (``_CommandAwareDataConverter``
in ``temporalio/worker/_workflow.py``): recheck it when upgrading the SDK. The replay tests run
every recorded history through the worker's runner, so an SDK that needed an answer would fail them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import temporalio.workflow
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import DataConverter, StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner


@dataclass(frozen=True)
class ContextMemoRunner(SandboxedWorkflowRunner):
    """The SDK's sandboxed runner, whose instances remember context answers between activations.

    A subclass rather than a wrapper, so what the SDK does to a sandboxed runner (debug mode
    relaxing its restrictions, plugins replacing them with ``dataclasses.replace``) keeps this one.
    """

    #: Whether the worker's data converter has a payload codec or external storage, the only
    #: users of a command's context (:func:`contexts_used`); if not, the instances answer without
    #: asking the sandbox (no context, no storage target).
    contexts_used: bool = True

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return ContextMemoInstance(super().create_instance(det), contexts_used=self.contexts_used)


NO_STORE_TARGET = StorageDriverStoreContext(target=None)


def contexts_used(data_converter: DataConverter) -> bool:
    """Whether anything in ``data_converter`` reads the serialization context the SDK asks the
    workflow for around a workflow task: its payload codec or its external storage."""
    return data_converter.payload_codec is not None or data_converter.external_storage is not None


class ContextMemoInstance(WorkflowInstance):
    def __init__(self, inner: WorkflowInstance, contexts_used: bool = True) -> None:
        self.inner = inner
        self._contexts_used = contexts_used
        self._activating = False
        # Keyed by the SDK's command info (a frozen dataclass of command type and sequence number,
        # or None for payloads of no command).
        self._contexts: dict[Any, Any] = {}
        self._store_contexts: dict[Any, Any] = {}

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        self._forget(activating=True)
        try:
            return self.inner.activate(act)
        finally:
            self._forget(activating=False)

    def _forget(self, *, activating: bool) -> None:
        self._activating = activating
        self._contexts.clear()
        self._store_contexts.clear()

    def get_serialization_context(self, command_info: Any) -> Any:
        if not self._contexts_used:
            return None  # the SDK then uses the worker's converter as it is
        return self._remembered(self._contexts, self.inner.get_serialization_context, command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        if not self._contexts_used:
            return NO_STORE_TARGET  # what the sandbox answers when the workflow gives none
        return self._remembered(self._store_contexts, self.inner.get_external_store_context, command_info)

    def _remembered(self, memo: dict[Any, Any], ask: Any, command_info: Any) -> Any:
        if self._activating:
            return ask(command_info)
        try:
            return memo[command_info]
        except KeyError:
            answer = memo[command_info] = ask(command_info)
            return answer

    def get_info(self) -> temporalio.workflow.Info:
        return self.inner.get_info()

    def get_thread_id(self) -> int | None:
        return self.inner.get_thread_id()
