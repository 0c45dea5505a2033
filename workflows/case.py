"""CaseWorkflow: one durable workflow per after-sales case (id ``case:{shop_id}:{case_id}``, ``workflows.ids``).

Started by the order ledger (see ``order_ledger.py``). What the case does is decided by
``domain.lifecycle.decide``; this workflow keeps time, validates, and carries out the effects.

Update:
    command(CaseCommand) -> CommandAnswer: one typed command (``domain.commands``); its validator
    refuses a wrong state, a wrong actor, a stale ``expected_version``, a passed deadline or a
    business rule (``domain.checks``) before anything is written to history.
Signal:
    parcel_event(ParcelEvent): a courier scan of the return parcel or the outbound item.
Query:
    view() -> CaseView: for operators and for cases started before views were recorded; the API
    reads the view record_events stored (a query that races a workflow task after a restart can
    leave a history that no longer replays: docs/reliability.md).
Timers (one at a time: the earliest alarm of ``domain.lifecycle.alarms``)
    the current deadline (its outcome fires exactly once), the reminders before it, the
    ``dispute_risk`` flag, the courier polling fallback while a return is in transit, and the
    satisfaction follow-up after the case ends.
Activities:
    pay_refund (idempotency key made by the decider), send_notification (fire and forget, drained
    before the workflow returns), lookup_parcel, record_events (a local activity: the outbound
    events of each workflow task that changed the case, in one call, in order, with the case's
    view, which the API reads instead of querying; views only when the case was opened with
    events off, ``CaseStart.events``; nothing in a task that ran a command, whose answer carries
    them), claim_parcel (when the case learns
    a tracking number: the parcel's workflow forwards the scans that came before, ``workflows.parcel``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import Notification, ParcelLookup, PayoutRequest, PayoutResult
    from activities.courier import CourierActivities
    from activities.notifications import NotificationActivities
    from activities.parcels import ParcelActivities, ParcelClaimRequest
    from activities.payments import PaymentActivities
    from casefeed.events import CaseEvent, EventBatch, derive, summary
    from casefeed.recording import EventActivities
    from domain import case_view, lifecycle, money
    from domain.casefile import (
        Alarm,
        AlarmRang,
        Case,
        Effect,
        Input,
        Notify,
        ParcelScanned,
        Pay,
        PayoutPaid,
        PayoutRefused,
        PollCourier,
        Refused,
        Settle,
    )
    from domain.checks import check
    from domain.commands import CaseCommand
    from domain.models import CaseState, CaseView
    from domain.money import format_amount
    from workflows import metrics
    from workflows import search_attributes as sa
    from workflows.messages import CaseSettlement, CaseStart, CommandAnswer, ParcelEvent

PAYMENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
#: A payout's first attempt, before the case is listed as refunding: one try, and at most this
#: long from being scheduled (waiting for a worker included), so a payout held up anywhere is
#: listed as refunding within a bounded time.
PAYMENT_FIRST_ATTEMPT = RetryPolicy(maximum_attempts=1)
PAYMENT_FIRST_ATTEMPT_WITHIN = timedelta(minutes=2)
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
LOOKUP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))
#: Recording events retries until the store answers (it only ever fails while the store is down).
RECORD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
CLAIM_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn(name="Case")
class CaseWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self._policy = start.policy
        self.case, self._opening = lifecycle.open_case(
            start.request, start.grant, ledger_workflow_id=start.ledger_workflow_id, opened_by=start.opened_by,
            opened_at=start.opened_at, now=workflow.now(), policy=start.policy)
        self._payout: Pay | None = None
        self._payout_slow = False  # this payout's first attempt did not succeed: listed as refunding
        self._polls: list[PollCourier] = []
        # The alarms' timers still running, each with the alarm it was started for (see
        # _wait_for_next_alarm).
        self._timers: list[tuple[Alarm, asyncio.Future[None]]] = []
        self._tasks: list[asyncio.Future[Any]] = []
        # What the search attributes hold, by name (a name missing: unknown, so it is upserted).
        self._published: dict[str, Any] = {}
        # Outbound events not yet handed to record_events, and how many the case has made; none
        # at all when the case was opened with events off (CaseStart.events).
        self._events_on = start.events
        # Whether each recording carries the case's view (the API reads cases from the store,
        # never by a workflow query; CaseStart.views), and what was last recorded.
        self._views = start.views
        self._recorded_mark = (-1, -1)
        # The workflow task (by its history length) that ran the latest command (an update):
        # nothing is recorded there (see _record_events). Events handed to commands' answers and
        # not recorded here since: the next recording carries them again.
        self._update_task = -1
        self._handed: list[CaseEvent] = []
        self._outbox: list[CaseEvent] = []
        self._event_sequence = 0
        self._closing = False

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        info = workflow.info()
        self._published = sa.as_published(info.typed_search_attributes, present=info.search_attributes.keys())
        self._carry_out(self._opening)
        self._emit(None)
        recorder = asyncio.ensure_future(self._record_events()) if self._events_on or self._views else None
        self._publish()
        while not (self.case.state.terminal and self.case.followup_sent):
            if self._payout is not None:
                await self._pay(self._payout)
            elif self._polls:
                await self._poll(self._polls.pop(0))
            else:
                due = await self._wait_for_next_alarm()
                if due is not None:
                    self._step(AlarmRang(at=due.at))
            self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._closing = True
        if recorder is not None:
            await recorder
        await self._drain()
        return self.view()

    async def _wait_for_next_alarm(self) -> Alarm | None:
        """Sleep until the earliest alarm or a change; return the alarm whose timer fired.

        Which alarm is due follows from the timer that fired, never from comparing
        ``workflow.now()`` with alarm times: after a worker dies holding a workflow task, the live
        run and a replay can see different clocks, and a clock-based choice then produced
        different commands (found by the fault harness). For the same reason there is always a
        timer, even for an alarm already due.

        Nor does it follow from the order in which the SDK handles a timer firing and a signal or
        update that came in the same workflow task (the fault harness found that too: live the
        timer won, on replay the signal did). Each alarm's timer is a task of its own, beside the
        wait for a change, and a timer that fired always fires its alarm, whatever else came with
        it. A timer is never cancelled on a change: the SDK runs signals and updates before it
        marks the timers of the same activation as fired (unless the history was recorded with
        its single-batch flag), so a timer cancelled then could be one that had fired. It stays;
        a new one is started only if the earliest alarm is now earlier than every timer running.
        When a timer fires, every timer of that activation has been marked (they all are before
        code that waits on a timer runs), so the others still running did not fire: they are
        cancelled then, and the next round starts the timer of the next alarm. A timer whose
        alarm has gone rings the decider for nothing: ``AlarmRang`` fires only what is due by its
        time.
        """
        seen = self.case.version
        alarms = lifecycle.alarms(self.case, self._policy)
        if alarms:
            first = min(alarms, key=lambda a: a.at)
            if not any(alarm.at <= first.at for alarm, _ in self._timers):
                wait = max(first.at - workflow.now(), timedelta(milliseconds=1))
                self._timers.append((first, asyncio.ensure_future(workflow.sleep(wait, summary=first.label))))
        changed = asyncio.ensure_future(workflow.wait_condition(lambda: self.case.version != seen))
        try:
            await workflow.wait([changed, *(timer for _, timer in self._timers)],
                                return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not changed.done():
                changed.cancel()
        fired = [alarm for alarm, timer in self._timers if timer.done()]
        if not fired:
            return None
        for _, timer in self._timers:
            if not timer.done():
                timer.cancel()
        self._timers = []
        return max(fired, key=lambda a: a.at)

    # ----------------------------------------------------------------------------------------
    # The decider's steps and their effects

    def _step(self, event: Input) -> None:
        before = self.case
        try:
            self.case, effects = lifecycle.decide(self.case, event, workflow.now(), self._policy)
        except Refused as refused:  # the validator refused it already; kept for a clear failure
            raise _application_error(refused) from None
        self._count(before)
        self._carry_out(effects)
        self._emit(before)
        self._claim_parcels(before)

    def _claim_parcels(self, before: Case) -> None:
        """A tracking number the case did not have before: claim its parcel (fire and forget,
        drained before the workflow returns), so scans the courier sent earlier reach the case."""
        case = self.case
        for carrier, old, new in ((case.return_carrier, before.return_tracking, case.return_tracking),
                                  (None, before.outbound_tracking, case.outbound_tracking)):
            if new is None or new == old:
                continue
            carrier = carrier or self._outbound_carrier()
            if carrier is None:
                continue
            claim = ParcelClaimRequest(carrier=carrier, tracking_number=new,
                                       case_workflow_id=workflow.info().workflow_id)
            self._tasks.append(workflow.start_activity_method(
                ParcelActivities.claim_parcel, claim, start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(days=1), retry_policy=CLAIM_RETRY,
                summary=f"claim parcel {carrier} {new}"))

    def _outbound_carrier(self) -> str | None:
        """The carrier of the item the merchant shipped (the timeline records it; the case keeps
        only the tracking number)."""
        for entry in reversed(self.case.timeline):
            if entry.action == "ship_item":
                carrier = entry.detail.get("carrier")
                return carrier if isinstance(carrier, str) else None
        return None

    # ----------------------------------------------------------------------------------------
    # Outbound events (casefeed): derived from each step, recorded by one activity at a time

    def _emit(self, before: Case | None) -> None:
        if not self._events_on:
            return
        case = self.case
        for kind, data in derive(before, case):
            self._event_sequence += 1
            self._outbox.append(CaseEvent(id=f"evt_{workflow.uuid4().hex}", type=kind, case_id=case.case_id,
                                          shop_id=case.order.shop_id, version=case.version,
                                          sequence=self._event_sequence, occurred_at=workflow.now(), data=data))

    async def _record_events(self) -> None:
        """Hand the outbox and the case's view to record_events whenever the case changed: all
        events of a workflow task go in one call (the condition is checked after every handler of
        the task has run), and the next call waits for this one, so the store gets them in order.
        Never blocks the case.

        Nothing is recorded in a task that ran a command (an update), for a case that records
        its views (``CaseStart.views``). A local activity runs before its task is committed; when
        the worker or the server dies in between, the retried task applies timers, signals and
        activity results again, but an update is lost unless its client retries. Recorded there,
        the command's events and view would tell of a change that never happened, to the very
        client that reads the case to learn whether to retry. They go out with the command's
        answer instead (``command``), which comes only from a committed task, and its caller
        stores them; the next recording carries them again (``_handed``), so a caller that died
        before storing them delays them, never loses them.
        """
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox) or self._closing or self._view_behind())
            if self._views and self._in_update_task():
                if self._closing:
                    await workflow.sleep(timedelta(milliseconds=1))  # a task of its own to record in
                else:
                    await workflow.wait_condition(lambda: self._closing or not self._in_update_task())
                continue
            if not self._outbox and not self._view_behind() and not (self._closing and self._handed):
                return
            events, self._outbox, self._handed = [*self._handed, *self._outbox], [], []
            view = case_view.view(self.case, self._policy) if self._views else None
            self._recorded_mark = self._view_mark()
            batch = self._batch(events, view)
            # A local activity: one marker in the history instead of an activity task's three events
            # and a workflow task of its own (the bench: 28-41 % more history per case with a
            # regular activity); the write is a few milliseconds of SQLite in the worker.
            await workflow.execute_local_activity_method(
                EventActivities.record_events, batch, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY, summary=f"record {len(events)} event(s) up to v{self.case.version}")

    def _batch(self, events: list[CaseEvent], view: CaseView | None) -> EventBatch:
        lines = lifecycle.payout_lines(self.case, self._policy)
        amount = money.refund_total(lines) + money.reimbursement_total(lines)
        key = workflow.info().workflow_id
        return EventBatch(case_key=key, events=events, summary=summary(self.case, key, amount), view=view)

    def _in_update_task(self) -> bool:
        return workflow.info().get_current_history_length() == self._update_task

    def _view_behind(self) -> bool:
        return self._views and self._view_mark() != self._recorded_mark

    def _view_mark(self) -> tuple[int, int]:
        """What tells one view from the next: the version, and the timeline's length (the
        satisfaction follow-up is recorded without a new version: it changes no command)."""
        return self.case.version, len(self.case.timeline)

    def _count(self, before: Case) -> None:
        """The operators' counters (``workflows.metrics``), read from what the step recorded."""
        for entry in self.case.timeline[len(before.timeline):]:
            if entry.action == "deadline_expired":
                metrics.count_automatic_action(str(entry.detail.get("deadline")))
        if self.case.state == CaseState.NEEDS_ATTENTION and before.state != CaseState.NEEDS_ATTENTION:
            metrics.count_needs_attention("payout")

    def _carry_out(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Notify):
                self._notify(effect)
            elif isinstance(effect, Pay):
                self._payout = effect
            elif isinstance(effect, PollCourier):
                self._polls.append(effect)
            elif isinstance(effect, Settle):
                settlement = CaseSettlement(case_id=self.case.case_id, refunded=effect.refunded,
                                            shipping_refunded=effect.shipping_refunded, keeps_items=effect.keeps_items)
                ledger = workflow.get_external_workflow_handle(self.case.ledger_workflow_id)
                self._tasks.append(asyncio.ensure_future(ledger.signal("case_settled", settlement)))
        self._tasks = [t for t in self._tasks if not t.done()]

    def _notify(self, n: Notify) -> None:
        notification = Notification(dedupe_key=n.dedupe_key, case_id=self.case.case_id,
                                    shop_id=self.case.order.shop_id, recipient_role=n.role,
                                    recipient_id=n.recipient_id, kind=n.kind, params=n.params)
        self._tasks.append(workflow.start_activity_method(
            NotificationActivities.send_notification, notification, start_to_close_timeout=timedelta(seconds=10),
            schedule_to_close_timeout=timedelta(hours=1), retry_policy=NOTIFY_RETRY,
            summary=f"{n.kind} → {n.role} {n.recipient_id}"))

    async def _drain(self) -> None:
        pending, self._tasks = self._tasks, []
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(result, BaseException):
                workflow.logger.warning("a notification or settlement was not delivered: %s", result)

    # ----------------------------------------------------------------------------------------
    # Payouts and courier lookups

    async def _pay(self, pay: Pay) -> None:
        case = self.case
        request = PayoutRequest(idempotency_key=pay.idempotency_key, case_id=case.case_id,
                                order_id=case.order.order_id, shop_id=case.order.shop_id,
                                buyer_id=case.order.buyer_id, currency=case.order.currency, refund=pay.refund,
                                reimbursement=pay.reimbursement, lines=pay.lines, earlier_keys=pay.earlier_keys)
        try:
            result = await self._pay_first_quietly(request)
        except ActivityError as err:
            reason = err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
            outcome: Input = PayoutRefused(reason=reason)
        else:
            outcome = PayoutPaid(payment_id=result.payment_id, amount=result.amount, currency=result.currency,
                                 paid_under=result.paid_under, already_paid=result.already_paid)
        self._payout, self._payout_slow = None, False  # the next payout (after a resume) starts quiet again
        self._step(outcome)

    async def _pay_first_quietly(self, request: PayoutRequest) -> PayoutResult:
        """One attempt before the case is listed as refunding: most payouts succeed at once, and
        then the case goes from its last listed attributes straight to refunded (one visibility
        write fewer). A first attempt that fails, or has not succeeded within
        PAYMENT_FIRST_ATTEMPT_WITHIN, makes the case listed as refunding, and the payout is
        retried under the same idempotency key (the activity looks the key up before paying). A
        refusal (a permanent 4xx) is not retried: the case goes to needs_attention."""
        try:
            return await self._payout_attempts(request, PAYMENT_FIRST_ATTEMPT, within=PAYMENT_FIRST_ATTEMPT_WITHIN)
        except ActivityError as err:
            if isinstance(err.cause, ApplicationError) and err.cause.non_retryable:
                raise
            workflow.logger.info("payout %s did not succeed at once (%s); retrying", request.idempotency_key,
                                 err.cause or err)
        self._payout_slow = True
        self._publish()
        return await self._payout_attempts(request, PAYMENT_RETRY)

    async def _payout_attempts(self, request: PayoutRequest, retry_policy: RetryPolicy,
                               within: timedelta | None = None) -> PayoutResult:
        return await workflow.execute_activity_method(
            PaymentActivities.pay_refund, request, start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=within, retry_policy=retry_policy,
            summary=f"pay {format_amount(request.refund + request.reimbursement, request.currency)}")

    async def _poll(self, poll: PollCourier) -> None:
        try:
            report = await workflow.execute_activity_method(
                CourierActivities.lookup_parcel, ParcelLookup(carrier=poll.carrier, tracking_number=poll.tracking_number),
                start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=timedelta(minutes=10),
                retry_policy=LOOKUP_RETRY, summary=f"ask {poll.carrier} about return parcel {poll.tracking_number}")
        except ActivityError as err:
            workflow.logger.warning("courier lookup failed for %s: %s", poll.tracking_number, err)
            return
        if report.known and report.status is not None:
            self._step(ParcelScanned(carrier=poll.carrier, tracking_number=poll.tracking_number, status=report.status,
                                     occurred_at=report.occurred_at or workflow.now(), source="courier_poll"))

    # ----------------------------------------------------------------------------------------
    # Commands, parcel events, and what operators and users see

    @workflow.update
    async def command(self, command: CaseCommand) -> CommandAnswer:
        self._update_task = workflow.info().get_current_history_length()
        self._step(command)
        view = self.view()
        if not self._views:  # a case started before: its recorder records this task as it did
            return CommandAnswer(view=view)
        # This task's changes go out with the answer (see _record_events), and again with the
        # next recording.
        events, self._outbox = self._outbox, []
        self._handed.extend(events)
        self._recorded_mark = self._view_mark()
        return CommandAnswer(view=view, batch=self._batch(events, view))

    @command.validator
    def _validate_command(self, command: CaseCommand) -> None:
        try:
            check(self.case, command, workflow.now(), self._policy)
        except Refused as refused:
            raise _application_error(refused) from None

    @workflow.signal
    def parcel_event(self, event: ParcelEvent) -> None:
        self._step(ParcelScanned(carrier=event.carrier, tracking_number=event.tracking_number, status=event.status,
                                 occurred_at=event.occurred_at))

    @workflow.query
    def view(self) -> CaseView:
        return case_view.view(self.case, self._policy)

    def _publish(self) -> None:
        """Keep search attributes and current details current; upsert only what changed."""
        case = self.case
        d = case.deadline
        values = sa.values(
            state=case.state, case_type=case.type, order=case.order, waiting_on=lifecycle.waiting_on(case),
            next_deadline=d.at if d else None, dispute_risk=case.dispute_risk,
            tracking_numbers=[t for t in (case.return_tracking, case.outbound_tracking) if t],
        )
        # A payout's first attempt is not listed (see _pay_first_quietly).
        quiet = case.state == CaseState.REFUNDING and not self._payout_slow
        updates = []
        for name, value in () if quiet else values.items():
            if self._published.get(name, "<unset>") == value:
                continue
            key = sa.BY_NAME[name]
            updates.append(key.value_unset() if value is None else key.value_set(value))  # type: ignore[attr-defined]
            self._published[name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(case_view.details(case, self._policy))


def _application_error(refused: Refused) -> ApplicationError:
    return ApplicationError(refused.message, refused.details, type=refused.kind, non_retryable=True)
