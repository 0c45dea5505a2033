"""Client-side operations on cases, shared by the API, the CLI and the tests.

Opening a case: start the order ledger if it is not running (``USE_EXISTING``, so a retry or a
second case of the same order finds the running one) and send it the ``open_case`` update. Both
steps are idempotent, so a retried request never creates two cases. Case ids are the shop's own,
so every other operation names its case by shop and case id (:class:`CaseRef`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from casefeed.store import EventStore
from domain import errors
from domain.commands import BadPayload, CaseCommand, Command, parse_command
from domain.models import CaseRequest, CaseView, Principal
from domain.policy import Policy
from workflows.case import CaseWorkflow
from workflows.ids import CaseRef, order_ledger_id
from workflows.messages import LedgerState, OpenCaseInput, OpenCaseResult, ParcelEvent
from workflows.order_ledger import OrderLedgerWorkflow


class CaseRefused(Exception):
    """A command or request the engine refused; ``kind`` is one of ``domain.errors``."""

    def __init__(self, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}


class CaseNotFound(Exception):
    pass


def _refusal(err: WorkflowUpdateFailedError) -> CaseRefused:
    cause: BaseException | None = err.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = getattr(cause, "cause", None)
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details else {}
        return CaseRefused(cause.type or "Refused", cause.message, details if isinstance(details, dict) else {})
    return CaseRefused("Refused", str(err))


log = logging.getLogger(__name__)

#: How long a read or a command may wait for the engine (no worker polling, a stuck server).
RPC_TIMEOUT = timedelta(seconds=15)


class CaseService:
    def __init__(self, client: Client, task_queue: str, policy: Policy, events: bool = True,
                 store: EventStore | None = None, event_retry_for: timedelta = timedelta(days=3)) -> None:
        self.client = client
        self.task_queue = task_queue
        self.policy = policy
        #: Whether the cases this service opens make outbound events (``AFTERSALES_EVENTS``).
        self.events = events
        #: The event store: where cases' views are read (``case_views``) and where what a command
        #: changed is stored; None: every read is a workflow query, and a command's events wait
        #: for the case's next recording.
        self.store = store
        #: How long the events a command made are delivered for (``AFTERSALES_EVENT_RETRY_FOR``).
        self.event_retry_for = event_retry_for

    async def open_case(self, request: CaseRequest, opened_by: Principal) -> OpenCaseResult:
        ledger_id = order_ledger_id(request.order.shop_id, request.order.order_id)
        handle = await self.client.start_workflow(
            OrderLedgerWorkflow.run,
            LedgerState(shop_id=request.order.shop_id, order_id=request.order.order_id),
            id=ledger_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"claims of order {request.order.order_id} (shop {request.order.shop_id})",
        )
        try:
            return await handle.execute_update(
                OrderLedgerWorkflow.open_case,
                OpenCaseInput(request=request, policy=self.policy, opened_by=opened_by, events=self.events),
            )
        except WorkflowUpdateFailedError as err:
            raise _refusal(err) from None

    async def view(self, case: CaseRef) -> CaseView:
        """The case as of its newest recording, from the event store: no workflow query, so a read
        never races a workflow task (a query answered while a restarted worker or server hands
        out a timer and signals of the same task has left histories that no longer replay:
        docs/reliability.md), and reads answer while no worker runs. A case with no stored view
        yet (opened a moment ago, or started before views were recorded) is queried."""
        if self.store is not None:
            body = await asyncio.to_thread(self.store.case_view, case.workflow_id)
            if body is not None:
                return CaseView.model_validate_json(body)
        try:
            return await self.client.get_workflow_handle(case.workflow_id).query(CaseWorkflow.view, rpc_timeout=RPC_TIMEOUT)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise CaseNotFound(str(case)) from None
            raise

    async def command(
        self,
        case: CaseRef,
        action: str,
        actor: Principal,
        payload: Command | dict[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> CaseView:
        """Send one command. ``payload`` is the typed command (the API validated it) or, for
        scripts and tests, its fields, validated here: a bad one is refused as the engine would."""
        if isinstance(payload, Command):
            command = payload
        else:
            try:
                command = parse_command(action, payload or {})
            except BadPayload as err:
                raise CaseRefused(errors.INVALID_PAYLOAD, str(err), {"errors": err.errors}) from None
        if expected_version is not None:
            command = command.model_copy(update={"expected_version": expected_version})
        handle = self.client.get_workflow_handle(case.workflow_id)
        try:
            answer = await handle.execute_update(CaseWorkflow.command, CaseCommand(actor=actor, command=command),
                                                 rpc_timeout=RPC_TIMEOUT)
        except WorkflowUpdateFailedError as err:
            raise _refusal(err) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise CaseNotFound(str(case)) from None
            raise
        if self.store is not None and answer.batch is not None:
            # The command's workflow task records nothing itself (it might never have been
            # committed); this answer comes only once it was: its events and view are stored
            # here, so the case reads as changed and its events go out from now on.
            try:
                await asyncio.to_thread(self.store.record, answer.batch, datetime.now(UTC), self.event_retry_for,
                                        True)
            except sqlite3.Error as err:  # the command stands; the case's next recording carries them
                log.warning("case %s: could not store what %s changed: %s", case, action, err)
        return answer.view

    async def parcel_event(self, case: CaseRef, event: ParcelEvent) -> None:
        await self.client.get_workflow_handle(case.workflow_id).signal(CaseWorkflow.parcel_event, event)

    async def ledger(self, shop_id: str, order_id: str) -> LedgerState:
        return await self.client.get_workflow_handle(order_ledger_id(shop_id, order_id)).query(
            OrderLedgerWorkflow.ledger
        )
