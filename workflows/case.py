"""CaseWorkflow: one durable workflow per after-sales case (id ``case-{case_id}``).

Started by the order ledger (see ``order_ledger.py``). The case always knows who it waits on,
until when, and what happens when nobody acts.

Updates (one per action, by name; see ``domain.rules.PAYLOADS``), each with a validator that
refuses a wrong state, a wrong actor, a bad payload, a stale ``expected_version`` or a passed
deadline before anything is written to history:
    approve, reject, offer_partial_refund, require_return, accept_offer, decline_offer, revise,
    submit_return_shipment, confirm_return_received, record_inspection, ship_item,
    confirm_receipt, cancel, escalate, arbitrate, extend_deadline, add_note, resume
    Argument: ``CaseCommand``; result: ``CaseView``.
Signals:
    parcel_event(ParcelEvent): a courier scan of the return parcel or the outbound item.
Queries:
    view() -> CaseView
Timers (one at a time: the earliest of)
    the current deadline (its automatic outcome fires exactly once), the reminders before it
    (shop 24 h and 2 h, supervisor 12 h, buyer 24 h by default), the 5-day ``dispute_risk``
    flag, the courier polling fallback while a return is in transit, and the satisfaction
    follow-up 3 days after the case ends.
Activities:
    pay_refund (idempotency key made here), send_notification (fire and forget, drained before
    the workflow returns), lookup_parcel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import Notification, ParcelLookup, PayoutRequest, PayoutResult
    from activities.courier import CourierActivities
    from activities.notifications import NotificationActivities
    from activities.payments import PaymentActivities
    from domain import errors, money
    from domain.durations import format_duration
    from domain.models import (
        SYSTEM_ACTOR,
        CaseState,
        CaseType,
        CaseView,
        CloseReason,
        DeadlineView,
        LineKind,
        ParcelStatus,
        PayoutStatus,
        Principal,
        Reason,
        RefundView,
        Responsibility,
        Role,
        TimelineActor,
        TimelineEntry,
        WaitingOn,
    )
    from domain.rules import BadPayload as _BadPayload
    from domain.rules import (
        BuyerContext,
        CaseCommand,
        CaseFacts,
        actions_in,
        can_access,
        parse_payload,
    )
    from workflows import search_attributes as sa
    from workflows.ids import CaseRef, notification_key, payout_key
    from workflows.messages import CASE_VERSION, CaseSettlement, CaseStart, ParcelEvent

#: Patch: alarms fire because their timer fired, not because of the clock (see _wait_for_next_alarm).
ALARMS_FIRE_BY_THEIR_TIMER = "alarms-fire-by-their-timer"
#: Patch: the first task upserts only the search attributes that differ from those the case was
#: started with (the ledger sets them all, ``sa.at_start``). It implies ALARMS_FIRE_BY_THEIR_TIMER
#: and takes that patch's place in new cases, so its marker costs no extra event; either id in
#: ``TemporalChangeVersion`` means "alarms fire by their timer".
ATTRIBUTES_SET_AT_START = "attributes-set-at-start"
#: Patch: a payout's first attempt runs before the case is listed as ``refunding``; only a payout
#: that does not succeed at once (its first attempt failed or ran out of time) is published as
#: ``refunding`` while it retries, so the common case makes one visibility write fewer. Implies
#: ATTRIBUTES_SET_AT_START and took its place in cases opened before v6 (one marker per case).
PAYOUT_LISTED_WHEN_SLOW = "payout-listed-when-slow"
#: v6: a case opened with ``CaseStart.case_version`` >= 6 has every change above from its start,
#: fixed by its input, so it asks for no patch: no marker event and no ``TemporalChangeVersion``
#: upsert (one visibility write), where a patch would cost every new case both. Cases opened
#: before (version 0) take the patches' path as before. Later changes may be patches again, or a
#: higher CASE_VERSION.
CASE_VERSION_WITHOUT_PATCHES = 6

PAYMENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
#: A payout's first attempt, before the case is listed as refunding (PAYOUT_LISTED_WHEN_SLOW):
#: one try, and at most this long from being scheduled (waiting for a worker included), so a
#: payout held up anywhere is listed as refunding within a bounded time.
PAYMENT_FIRST_ATTEMPT = RetryPolicy(maximum_attempts=1)
PAYMENT_FIRST_ATTEMPT_WITHIN = timedelta(minutes=2)
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
LOOKUP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))

#: Who waits in each live state.
WAITING_ON = {
    CaseState.AWAITING_MERCHANT_DECISION: WaitingOn.MERCHANT,
    CaseState.AWAITING_BUYER_RESPONSE: WaitingOn.BUYER,
    CaseState.AWAITING_RETURN_SHIPMENT: WaitingOn.BUYER,
    CaseState.RETURN_IN_TRANSIT: WaitingOn.COURIER,
    CaseState.AWAITING_INSPECTION: WaitingOn.MERCHANT,
    CaseState.AWAITING_MERCHANT_SHIPMENT: WaitingOn.MERCHANT,
    CaseState.AWAITING_BUYER_CONFIRMATION: WaitingOn.BUYER,
    CaseState.IN_ARBITRATION: WaitingOn.PLATFORM,
    CaseState.REFUNDING: WaitingOn.PAYMENT,
    CaseState.NEEDS_ATTENTION: WaitingOn.MERCHANT,
}


@dataclass
class Deadline:
    kind: str
    at: datetime
    owner: WaitingOn  # whose deadline it is: who gets the reminders
    on_expiry: str
    set_at: datetime


@dataclass(frozen=True)
class Alarm:
    at: datetime
    key: str
    label: str


class UnknownCaseVersion(RuntimeError):
    """A case opened by newer code than this worker's. Deliberately not an ``ApplicationError``:
    it fails the workflow task, which Temporal retries, instead of failing the case."""


@workflow.defn(name="Case")
class CaseWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        if start.case_version > CASE_VERSION:
            # Opened by newer code, whose commands this code would not reproduce: fail the task
            # (not the case), so it is retried until a worker that knows the version takes it.
            raise UnknownCaseVersion(f"case {start.request.case_id} was opened as version {start.case_version}; "
                                     f"this worker runs case versions up to {CASE_VERSION}")
        request = start.request
        self._start = start
        self._policy = start.policy
        self._grant = start.grant
        self._order = request.order
        self._case_id = request.case_id
        self._type = request.type
        self._reason = request.reason
        self._state = CaseState.AWAITING_MERCHANT_DECISION
        self._created_at = start.opened_at
        self._updated_at = start.opened_at
        self._version = 0
        self._deadline: Deadline | None = None
        self._buyer_context: BuyerContext | None = None
        self._close_reason: CloseReason | None = None
        self._dispute_risk = False
        self._timeline: list[TimelineEntry] = []
        self._requested_refund = request.requested_refund
        self._agreed_refund: int | None = None
        self._offer: int | None = None
        self._deduction = 0
        self._compensation = 0
        self._converted_to_refund = False
        self._return_carrier: str | None = None
        self._return_tracking: str | None = None
        self._return_cost: int | None = None
        self._return_submitted_at: datetime | None = None
        self._outbound_tracking: str | None = None
        self._last_poll_at: datetime | None = None
        self._seen_parcel_events: set[str] = set()
        self._payout_generation = 0
        self._payout_status = PayoutStatus.NONE
        self._payment_id: str | None = None
        self._paid_lines: list | None = None
        self._needs_attention_reason: str | None = None
        self._last_automatic: str | None = None
        self._ended_at: datetime | None = None
        self._followup_sent = False
        self._settled = False
        self._fired: set[str] = set()
        # What the search attributes are known to hold, by name (a name missing: unknown, so the
        # next _publish upserts it, unsets included). Cases from before ATTRIBUTES_SET_AT_START know
        # nothing and upsert everything in their first task; newer ones start from their start event.
        self._published: dict[str, Any] = {}
        self._alarms_by_timer = False
        self._payout_listed_when_slow = False
        self._payout_slow = False  # this payout's first attempt did not succeed: listed as refunding
        self._notifications: list[asyncio.Task[Any]] = []
        self._enter(CaseState.AWAITING_MERCHANT_DECISION, self._merchant_decision_deadline(start.opened_at))
        self._record(start.opened_by, "opened", {
            "type": request.type, "reason": request.reason,
            "items": [i.model_dump() for i in request.items],
            "requested_refund": request.requested_refund, "description": request.description,
            "evidence": request.evidence, "policy_version": self._policy.version,
            "max_refund": self._grant.max_refund, "currency": self._order.currency,
        }, at=start.opened_at)

    # ----------------------------------------------------------------------------------------
    # The main loop: pay when refunding, otherwise sleep until the next alarm or a change.

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        # Must stay run's first command. Only one of the two patches is ever recorded: the newer
        # implies the older, and a replay of a case that has the older finds the newer absent.
        # A case opened as v6 or later asks for neither (the ``or`` keeps it from asking).
        if start.case_version >= CASE_VERSION_WITHOUT_PATCHES or workflow.patched(PAYOUT_LISTED_WHEN_SLOW):
            self._payout_listed_when_slow = True
            self._start_from_attributes_set_at_start()
        elif workflow.patched(ATTRIBUTES_SET_AT_START):
            self._start_from_attributes_set_at_start()
        self._notify(WaitingOn.MERCHANT, "case_opened",
                     f"New {self._type} request ({self._reason}) for order {self._order.order_id}")
        self._publish()
        while not (self._state.terminal and self._followup_sent):
            if self._state == CaseState.REFUNDING:
                await self._pay()
            elif self._alarms_by_timer or workflow.patched(ALARMS_FIRE_BY_THEIR_TIMER):
                due = await self._wait_for_next_alarm()
                if due is not None:
                    await self._fire_due_alarms(due.at)
            else:  # cases started before the patch replay the code they ran with
                await self._sleep_until_next_alarm()
                await self._fire_due_alarms(workflow.now())
            if self._state.terminal:
                self._settle()
            self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain_notifications()
        return self._view()

    def _start_from_attributes_set_at_start(self) -> None:
        self._alarms_by_timer = True
        info = workflow.info()
        self._published = sa.as_published(info.typed_search_attributes, present=info.search_attributes.keys())

    async def _wait_for_next_alarm(self) -> Alarm | None:
        """Sleep until the earliest alarm or a change; return the alarm whose timer fired.

        Which alarm is due follows from the timer that fired, never from comparing
        ``workflow.now()`` with alarm times: after a worker dies holding a workflow task, the live
        run and a replay can see different clocks, and a clock-based choice then produced
        different commands (found by the fault harness). For the same reason there is always a
        timer, even for an alarm already due.
        """
        seen = self._version
        alarms = self._alarms()
        if not alarms:
            await workflow.wait_condition(lambda: self._version != seen)
            return None
        first = min(alarms, key=lambda a: a.at)
        wait = max(first.at - workflow.now(), timedelta(milliseconds=1))
        try:
            await workflow.wait_condition(lambda: self._version != seen, timeout=wait, timeout_summary=first.label)
        except TimeoutError:
            return first
        return None

    async def _sleep_until_next_alarm(self) -> None:
        """Before ALARMS_FIRE_BY_THEIR_TIMER: kept for cases that started with it."""
        seen = self._version
        alarms = self._alarms()
        if not alarms:
            await workflow.wait_condition(lambda: self._version != seen)
            return
        first = min(alarms, key=lambda a: a.at)
        wait = first.at - workflow.now()
        if wait <= timedelta(0):
            return
        try:
            await workflow.wait_condition(lambda: self._version != seen, timeout=wait, timeout_summary=first.label)
        except TimeoutError:
            pass

    # ----------------------------------------------------------------------------------------
    # Alarms: deadlines, reminders, dispute risk, courier polling, follow-up.

    def _alarms(self) -> list[Alarm]:
        alarms: list[Alarm] = []
        d = self._deadline
        if d is not None:
            stamp = d.at.isoformat()
            alarms.append(Alarm(d.at, f"deadline:{d.kind}:{stamp}", f"{d.kind} deadline: {d.on_expiry}"))
            for recipient, before in self._reminder_plan(d.owner):
                at = d.at - before
                if at > d.set_at:
                    alarms.append(Alarm(at, f"remind:{recipient}:{format_duration(before)}:{stamp}",
                                        f"remind {recipient} {format_duration(before)} before {d.kind}"))
        if not self._dispute_risk and not self._state.terminal:
            at = self._created_at + self._policy.deadlines.dispute_risk_after
            alarms.append(Alarm(at, "dispute_risk", "flag dispute risk"))
        if self._state == CaseState.RETURN_IN_TRANSIT and self._return_tracking:
            base = self._last_poll_at or self._return_submitted_at or self._created_at
            at = base + self._policy.deadlines.courier_poll_interval
            alarms.append(Alarm(at, f"poll:{at.isoformat()}", "ask the courier about the return parcel"))
        if self._state.terminal and not self._followup_sent and self._ended_at is not None:
            at = self._ended_at + self._policy.deadlines.satisfaction_followup
            alarms.append(Alarm(at, "followup", "satisfaction follow-up"))
        return [a for a in alarms if a.key not in self._fired]

    def _reminder_plan(self, owner: WaitingOn) -> list[tuple[str, timedelta]]:
        r = self._policy.reminders
        if owner == WaitingOn.MERCHANT:
            return [("shop", b) for b in r.merchant] + [("supervisor", b) for b in r.supervisor]
        if owner == WaitingOn.BUYER:
            return [("buyer", b) for b in r.buyer]
        return []

    async def _fire_due_alarms(self, cutoff: datetime) -> None:
        """Fire, in order, every alarm due at ``cutoff``."""
        for alarm in sorted(self._alarms(), key=lambda a: a.at):
            if alarm.at > cutoff:
                break
            self._fired.add(alarm.key)
            kind = alarm.key.split(":", 1)[0]
            if kind == "deadline":
                self._on_deadline_expired()
                return  # the state changed; the next alarms follow from the new state
            if kind == "remind":
                if self._deadline is not None and cutoff < self._deadline.at:
                    self._send_reminder(alarm)  # a reminder overtaken by its deadline is moot
            elif kind == "dispute_risk":
                self._dispute_risk = True
                self._touch()
                self._record(SYSTEM_ACTOR, "dispute_risk_flagged",
                             {"open_for": format_duration(self._policy.deadlines.dispute_risk_after)})
                self._notify(WaitingOn.MERCHANT, "dispute_risk",
                             f"Case {self._case_id} has been open for "
                             f"{format_duration(self._policy.deadlines.dispute_risk_after)}; buyers escalate about now",
                             supervisor=True)
            elif kind == "poll":
                await self._poll_courier()
            elif kind == "followup":
                self._followup_sent = True
                self._record(SYSTEM_ACTOR, "satisfaction_followup_sent", {})
                self._notify(WaitingOn.BUYER, "satisfaction_followup",
                             f"How did we do with your {self._type} request {self._case_id}?")

    def _send_reminder(self, alarm: Alarm) -> None:
        _, recipient, before, _ = alarm.key.split(":", 3)
        d = self._deadline
        assert d is not None
        text = f"{d.kind} deadline at {d.at.isoformat()} ({before} left): {d.on_expiry} if nobody acts"
        self._record(SYSTEM_ACTOR, "reminder_sent", {"to": recipient, "deadline": d.kind, "before": before,
                                                      "deadline_at": d.at.isoformat()})
        if recipient == "buyer":
            self._notify(WaitingOn.BUYER, "reminder", text)
        elif recipient == "supervisor":
            self._notify(WaitingOn.MERCHANT, "reminder", text, supervisor=True, shop=False)
        else:
            self._notify(WaitingOn.MERCHANT, "reminder", text)

    # ----------------------------------------------------------------------------------------
    # Deadlines and their automatic outcomes

    def _deadline_for(self, kind: str, at: datetime) -> Deadline:
        owner, on_expiry = {
            "merchant_decision": (WaitingOn.MERCHANT,
                                  "auto-approve and refund" if self._type == CaseType.REFUND_ONLY
                                  else "auto-approve the return"),
            "buyer_return_shipment": (WaitingOn.BUYER, "close as buyer_timeout"),
            "merchant_inspection": (WaitingOn.MERCHANT, "auto-refund"),
            "buyer_answer_refusal": (WaitingOn.BUYER, "close as rejected"),
            "buyer_answer_offer": (WaitingOn.BUYER, "the offer lapses and the merchant decides again"),
            "buyer_answer_inspection": (WaitingOn.BUYER, "close as returned_to_buyer"),
            "merchant_shipment": (WaitingOn.MERCHANT,
                                  "convert to a refund" if self._type == CaseType.EXCHANGE
                                  else "escalate to the platform"),
            "buyer_confirm_receipt": (WaitingOn.BUYER, "auto-confirm receipt"),
            "platform_decision": (WaitingOn.PLATFORM, "remind platform staff"),
            "needs_attention_followup": (WaitingOn.MERCHANT, "remind the supervisor"),
        }[kind]
        return Deadline(kind=kind, at=at, owner=owner, on_expiry=on_expiry, set_at=workflow.now())

    def _merchant_decision_deadline(self, now: datetime) -> Deadline:
        window = self._policy.deadlines.merchant_decision(self._order.shipped_at is not None)
        return self._deadline_for("merchant_decision", now + window)

    def _after(self, kind: str, window: timedelta, base: datetime | None = None) -> Deadline:
        return self._deadline_for(kind, (base or workflow.now()) + window)

    def _on_deadline_expired(self) -> None:
        d = self._deadline
        assert d is not None
        dl = self._policy.deadlines
        self._record(SYSTEM_ACTOR, "deadline_expired", {"deadline": d.kind, "deadline_at": d.at.isoformat(),
                                                        "outcome": d.on_expiry})
        self._last_automatic = f"the {d.kind} deadline passed at {d.at.isoformat()}: {d.on_expiry}"
        if d.kind == "merchant_decision":
            if self._type == CaseType.REFUND_ONLY:
                if self._reason == Reason.OUT_OF_STOCK:
                    self._compensation = money.out_of_stock_compensation(self._grant.items_value, self._policy)
                self._agreed_refund = self._default_approval_amount()
                self._auto("auto_approved", {"refund": self._refund_amount(), "compensation": self._compensation})
                self._enter(CaseState.REFUNDING, None)
            else:
                self._auto("auto_approved", {"return": True})
                self._await_return()
        elif d.kind == "buyer_return_shipment":
            self._close(CloseReason.BUYER_TIMEOUT)
        elif d.kind == "merchant_inspection":
            self._converted_to_refund = self._type in (CaseType.EXCHANGE, CaseType.REPAIR)
            self._auto("auto_refund", {"refund": self._refund_amount()})
            self._enter(CaseState.REFUNDING, None)
        elif d.kind == "buyer_answer_refusal":
            self._close(CloseReason.REJECTED)
        elif d.kind == "buyer_answer_offer":
            self._auto("offer_lapsed", {"offer": self._offer})
            self._offer = None
            self._enter(CaseState.AWAITING_MERCHANT_DECISION, self._merchant_decision_deadline(workflow.now()))
        elif d.kind == "buyer_answer_inspection":
            self._close(CloseReason.RETURNED_TO_BUYER)
        elif d.kind == "merchant_shipment":
            if self._type == CaseType.EXCHANGE:
                self._converted_to_refund = True
                self._auto("converted_to_refund", {"refund": self._refund_amount()})
                self._enter(CaseState.REFUNDING, None)
            else:
                self._auto("escalated_to_platform", {})
                self._escalate()
        elif d.kind == "buyer_confirm_receipt":
            self._auto("auto_confirmed", {})
            self._complete()
        elif d.kind == "platform_decision":
            self._notify(WaitingOn.PLATFORM, "overdue", f"Case {self._case_id} awaits a platform decision since "
                         f"{d.at.isoformat()}")
            self._deadline = self._after("platform_decision", dl.platform_decision)
            self._touch()
        elif d.kind == "needs_attention_followup":
            self._notify(WaitingOn.MERCHANT, "needs_attention", f"Case {self._case_id} still needs attention: "
                         f"{self._needs_attention_reason}", supervisor=True, shop=False)
            self._deadline = self._after("needs_attention_followup", dl.needs_attention_followup)
            self._touch()

    def _auto(self, action: str, detail: dict[str, Any]) -> None:
        self._record(SYSTEM_ACTOR, action, detail)

    # ----------------------------------------------------------------------------------------
    # Commands

    @workflow.update(dynamic=True)
    async def command(self, action: str, args: Sequence[RawValue]) -> CaseView:
        cmd, payload = self._check_command(action, args)
        self._apply(action, cmd.actor, payload)
        return self._view()

    @command.validator
    def _validate_command(self, action: str, args: Sequence[RawValue]) -> None:
        self._check_command(action, args)

    def _check_command(self, action: str, args: Sequence[RawValue]) -> tuple[CaseCommand, Any]:
        if len(args) != 1:
            raise _refuse(errors.INVALID_PAYLOAD, f"{action} takes exactly one CaseCommand argument",
                          errors=[{"field": "payload", "message": "exactly one argument"}])
        try:
            cmd = workflow.payload_converter().from_payload(args[0].payload, CaseCommand)
        except Exception as err:  # noqa: BLE001 - any decoding failure is the caller's bad input
            raise _refuse(errors.INVALID_PAYLOAD, f"{action}: not a CaseCommand: {err}",
                          errors=[{"field": "payload", "message": str(err)[:300]}]) from None
        actor = cmd.actor
        if not can_access(actor, shop_id=self._order.shop_id, buyer_id=self._order.buyer_id):
            raise _refuse(errors.NOT_YOURS, f"{actor.role} {actor.id} may not act on case {self._case_id}")
        try:
            payload = parse_payload(action, cmd.payload)
        except _BadPayload as err:
            raise _refuse(errors.INVALID_PAYLOAD, str(err), errors=err.errors) from None
        table = actions_in(self._facts())
        if action not in table:
            raise self._wrong_state(action)
        if actor.role not in table[action]:
            allowed = sorted(r.value for r in table[action])
            raise _refuse(errors.FORBIDDEN, f"a {actor.role} may not {action}; in state {self._state} "
                          f"only {', '.join(allowed)} may", state=self._state)
        if cmd.expected_version is not None and cmd.expected_version != self._version:
            raise _refuse(errors.STALE_VERSION, f"the case is at version {self._version}, not "
                          f"{cmd.expected_version}: reload it and decide again", state=self._state,
                          version=self._version)
        d = self._deadline
        if d is not None and action != "add_note" and workflow.now() >= d.at:
            raise _refuse(errors.DEADLINE_PASSED, f"the {d.kind} deadline passed at {d.at.isoformat()}; "
                          f"{d.on_expiry} is being applied", state=self._state, deadline=d.at.isoformat())
        self._check_business_rules(action, actor, payload)
        return cmd, payload

    def _wrong_state(self, action: str) -> ApplicationError:
        possible = list(actions_in(self._facts()))
        text = f"case {self._case_id} is {self._state}"
        if self._close_reason:
            text += f" ({self._close_reason})"
        text += f"; {action} is not possible there. Possible now: {', '.join(possible)}"
        if self._last_automatic:
            text += f". Already happened: {self._last_automatic}"
        return _refuse(errors.WRONG_STATE, text, state=self._state, allowed_actions=possible,
                       already_happened=self._last_automatic)

    def _check_business_rules(self, action: str, actor: Principal, payload: Any) -> None:
        invalid = errors.INVALID_PAYLOAD
        cap = self._grant.max_refund
        if action == "approve":
            if payload.amount is not None and self._type != CaseType.REFUND_ONLY:
                raise _refuse(invalid, "amount: applies to refund_only cases; a return's refund is set at inspection",
                              errors=[{"field": "amount", "message": "only for refund_only"}])
            if payload.amount is not None and payload.amount > cap:
                raise _bad_amount("amount", payload.amount, cap)
            if self._type == CaseType.REFUND_ONLY:
                self._check_staff_limit(actor, payload.amount if payload.amount is not None
                                        else self._default_approval_amount())
            elif self._type == CaseType.RETURN_REFUND:
                self._check_staff_limit(actor, money.computed_refund(self._grant))
        elif action == "offer_partial_refund":
            if payload.amount > cap:
                raise _bad_amount("amount", payload.amount, cap)
            self._check_staff_limit(actor, payload.amount)
        elif action == "revise":
            if payload.requested_refund is not None and payload.requested_refund > cap:
                raise _bad_amount("requested_refund", payload.requested_refund, cap)
        elif action == "record_inspection":
            if payload.passed and payload.responsibility == Responsibility.BUYER_MISUSE:
                raise _refuse(invalid, "responsibility: buyer_misuse means the inspection did not pass",
                              errors=[{"field": "responsibility", "message": "buyer_misuse needs passed=false"}])
            if not payload.passed and payload.responsibility not in (Responsibility.BUYER_MISUSE,
                                                                     Responsibility.NO_FAULT):
                raise _refuse(invalid, f"responsibility: a failed inspection is buyer_misuse or no_fault, "
                              f"not {payload.responsibility}",
                              errors=[{"field": "responsibility", "message": "buyer_misuse or no_fault"}])
            if not payload.passed and payload.responsibility == Responsibility.BUYER_MISUSE and not payload.evidence:
                raise _refuse(invalid, "evidence: a failed inspection blaming the buyer needs evidence",
                              errors=[{"field": "evidence", "message": "at least one url"}])
            if payload.deduction and payload.deduction > self._grant.items_value:
                raise _bad_amount("deduction", payload.deduction, self._grant.items_value)
        elif action == "arbitrate":
            if payload.outcome == "refund_partial" and payload.amount is None:
                raise _refuse(invalid, "amount: required for refund_partial",
                              errors=[{"field": "amount", "message": "required for refund_partial"}])
            if payload.outcome != "refund_partial" and payload.amount is not None:
                raise _refuse(invalid, f"amount: only refund_partial takes an amount, not {payload.outcome}",
                              errors=[{"field": "amount", "message": "only with refund_partial"}])
            if payload.amount is not None and payload.amount > cap:
                raise _bad_amount("amount", payload.amount, cap)
        elif action == "extend_deadline":
            d = self._deadline
            assert d is not None
            limit = self._policy.deadlines.max_extension
            if payload.by > limit:
                raise _refuse(invalid, f"by: at most {format_duration(limit)} at a time",
                              errors=[{"field": "by", "message": f"at most {format_duration(limit)}"}])

    def _check_staff_limit(self, actor: Principal, amount: int) -> None:
        limit = self._policy.money.staff_refund_limit
        if actor.role == Role.STAFF and amount > limit:
            raise _refuse(errors.NEEDS_SUPERVISOR, f"a refund of {amount} exceeds the staff limit of {limit} "
                          f"{self._order.currency} minor units: a supervisor must approve it", limit=limit)

    def _apply(self, action: str, actor: Principal, p: Any) -> None:
        dl = self._policy.deadlines
        detail = {k: v for k, v in p.model_dump(mode="json").items() if v not in (None, [], "")}
        self._record(actor, action, detail)
        self._last_automatic = None
        now = workflow.now()
        if action == "approve":
            if self._type == CaseType.REFUND_ONLY:
                self._agreed_refund = p.amount if p.amount is not None else self._default_approval_amount()
                self._enter(CaseState.REFUNDING, None)
            else:
                self._await_return()
        elif action == "reject":
            self._buyer_context = BuyerContext.REFUSAL
            self._enter(CaseState.AWAITING_BUYER_RESPONSE, self._after("buyer_answer_refusal",
                                                                       dl.buyer_answer_refusal))
            self._notify(WaitingOn.BUYER, "rejected", f"The shop refused your request: {p.reason}. You may revise "
                         "it, escalate to the platform, or accept")
        elif action == "offer_partial_refund":
            self._offer = p.amount
            self._buyer_context = BuyerContext.OFFER
            self._enter(CaseState.AWAITING_BUYER_RESPONSE, self._after("buyer_answer_offer", dl.buyer_answer_offer))
            self._notify(WaitingOn.BUYER, "offer", f"The shop offers a partial refund of {p.amount} "
                         f"{self._order.currency} minor units if you keep the item")
        elif action == "require_return":
            self._type = CaseType.RETURN_REFUND
            self._enter(CaseState.AWAITING_RETURN_SHIPMENT, self._after("buyer_return_shipment",
                                                                        dl.buyer_return_shipment))
            self._notify(WaitingOn.BUYER, "return_required", "The shop asks you to return the item first")
        elif action == "accept_offer":
            if self._buyer_context == BuyerContext.OFFER:
                self._agreed_refund = self._offer
                self._enter(CaseState.REFUNDING, None)
            elif self._buyer_context == BuyerContext.REFUSAL:
                self._close(CloseReason.REJECTED)
            else:
                self._close(CloseReason.RETURNED_TO_BUYER)
        elif action == "decline_offer":
            self._offer = None
            self._enter(CaseState.AWAITING_MERCHANT_DECISION, self._merchant_decision_deadline(now))
        elif action == "revise":
            if p.requested_refund is not None:
                self._requested_refund = p.requested_refund
            self._enter(CaseState.AWAITING_MERCHANT_DECISION, self._merchant_decision_deadline(now))
            self._notify(WaitingOn.MERCHANT, "revised", f"The buyer revised case {self._case_id}")
        elif action == "submit_return_shipment":
            self._return_carrier, self._return_tracking = p.carrier, p.tracking_number
            self._return_cost = p.shipping_cost
            self._return_submitted_at = now
            self._enter(CaseState.RETURN_IN_TRANSIT, self._after("merchant_inspection", dl.merchant_inspection))
            self._notify(WaitingOn.MERCHANT, "return_shipped", f"The buyer shipped the return: {p.carrier} "
                         f"{p.tracking_number}")
        elif action == "confirm_return_received":
            self._enter(CaseState.AWAITING_INSPECTION, self._deadline)
        elif action == "record_inspection":
            if p.passed:
                self._deduction = p.deduction or 0
                if self._type == CaseType.RETURN_REFUND:
                    self._enter(CaseState.REFUNDING, None)
                else:
                    window = dl.merchant_ship_exchange if self._type == CaseType.EXCHANGE else dl.merchant_ship_repair
                    self._enter(CaseState.AWAITING_MERCHANT_SHIPMENT, self._after("merchant_shipment", window))
            else:
                self._buyer_context = BuyerContext.INSPECTION_FAILED
                self._enter(CaseState.AWAITING_BUYER_RESPONSE, self._after("buyer_answer_inspection",
                                                                           dl.buyer_answer_inspection))
                self._notify(WaitingOn.BUYER, "inspection_failed", f"The inspection found {p.responsibility}; "
                             "accept to have the item sent back, or escalate to the platform")
        elif action == "ship_item":
            self._outbound_tracking = p.tracking_number
            self._enter(CaseState.AWAITING_BUYER_CONFIRMATION, self._after("buyer_confirm_receipt",
                                                                           dl.buyer_confirm_receipt))
            self._notify(WaitingOn.BUYER, "item_shipped", f"Your item is on its way: {p.carrier} {p.tracking_number}")
        elif action == "confirm_receipt":
            self._complete()
        elif action == "cancel":
            self._close(CloseReason.CANCELLED_BY_BUYER)
        elif action == "escalate":
            self._escalate()
        elif action == "arbitrate":
            if p.outcome == "deny":
                self._close(CloseReason.ARBITRATION_DENIED)
            else:
                self._converted_to_refund = self._type in (CaseType.EXCHANGE, CaseType.REPAIR)
                if p.outcome == "refund_full":
                    self._deduction = 0
                    self._agreed_refund = None
                else:
                    self._agreed_refund = p.amount
                self._enter(CaseState.REFUNDING, None)
        elif action == "extend_deadline":
            d = self._deadline
            assert d is not None
            self._deadline = Deadline(kind=d.kind, at=d.at + p.by, owner=d.owner, on_expiry=d.on_expiry,
                                      set_at=d.set_at)
            self._timeline[-1].detail["new_deadline"] = self._deadline.at.isoformat()
            self._touch()
        elif action == "add_note":
            self._touch()
        elif action == "resume":
            self._needs_attention_reason = None
            self._payout_generation += 1
            self._enter(CaseState.REFUNDING, None)

    def _await_return(self) -> None:
        window = self._policy.deadlines.buyer_return_shipment
        self._enter(CaseState.AWAITING_RETURN_SHIPMENT, self._after("buyer_return_shipment", window))
        self._notify(WaitingOn.BUYER, "return_approved", "Your return was approved: ship the item back "
                     f"and submit the tracking number within {format_duration(window)}")

    def _escalate(self) -> None:
        self._enter(CaseState.IN_ARBITRATION, self._after("platform_decision", self._policy.deadlines.platform_decision))
        self._notify(WaitingOn.PLATFORM, "escalated", f"Case {self._case_id} awaits a platform decision")

    # ----------------------------------------------------------------------------------------
    # Parcels

    @workflow.signal
    def parcel_event(self, event: ParcelEvent) -> None:
        self._on_parcel(event, source="courier_event")

    def _on_parcel(self, event: ParcelEvent, source: str) -> None:
        key = f"{event.carrier}:{event.tracking_number}:{event.status}"
        is_return = event.tracking_number == self._return_tracking
        is_outbound = event.tracking_number == self._outbound_tracking
        if not (is_return or is_outbound) or key in self._seen_parcel_events:
            return
        self._seen_parcel_events.add(key)
        leg = "return" if is_return else "outbound"
        self._record(SYSTEM_ACTOR, "parcel_" + event.status, {
            "leg": leg, "carrier": event.carrier, "tracking_number": event.tracking_number,
            "occurred_at": event.occurred_at.isoformat(), "source": source})
        if event.status == ParcelStatus.EXCEPTION:
            owner = WaitingOn.MERCHANT if is_return else WaitingOn.BUYER
            self._notify(owner, "parcel_exception", f"The {leg} parcel {event.tracking_number} has a problem")
        if is_return and event.status == ParcelStatus.DELIVERED and self._state == CaseState.RETURN_IN_TRANSIT:
            self._enter(CaseState.AWAITING_INSPECTION,
                        self._after("merchant_inspection", self._policy.deadlines.merchant_inspection,
                                    base=event.occurred_at))
            self._notify(WaitingOn.MERCHANT, "return_delivered", f"The return of case {self._case_id} was "
                         "delivered: confirm and inspect it")
        else:
            self._touch()

    async def _poll_courier(self) -> None:
        self._last_poll_at = workflow.now()
        carrier, tracking = self._return_carrier, self._return_tracking
        assert carrier and tracking
        try:
            report = await workflow.execute_activity_method(
                CourierActivities.lookup_parcel, ParcelLookup(carrier=carrier, tracking_number=tracking),
                start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=timedelta(minutes=10),
                retry_policy=LOOKUP_RETRY, summary=f"ask {carrier} about return parcel {tracking}")
        except ActivityError as err:
            workflow.logger.warning("courier lookup failed for %s: %s", tracking, err)
            return
        if report.known and report.status is not None:
            self._on_parcel(ParcelEvent(carrier=carrier, tracking_number=tracking, status=report.status,
                                        occurred_at=report.occurred_at or workflow.now()), source="courier_poll")

    # ----------------------------------------------------------------------------------------
    # Money

    def _default_approval_amount(self) -> int:
        computed = money.computed_refund(self._grant)
        if self._requested_refund is not None:
            return min(self._requested_refund, computed)
        return computed

    def _return_reimbursement(self) -> int:
        return money.return_shipping_reimbursement(self._reason, self._return_cost, self._policy)

    def _lines(self) -> list:
        if self._paid_lines is not None:
            return self._paid_lines
        lines = money.breakdown(self._grant, deduction=self._deduction, agreed_refund=self._agreed_refund,
                                return_shipping=self._return_reimbursement(), compensation=self._compensation)
        if self._type in (CaseType.EXCHANGE, CaseType.REPAIR) and not self._converted_to_refund:
            # The buyer keeps a replacement or repaired item: only reimbursements are paid.
            lines = [line for line in lines if line.kind not in money.REFUND_LINES]
        return lines

    def _refund_amount(self) -> int:
        return money.refund_total(self._lines())

    async def _pay(self) -> None:
        lines = self._lines()
        refund, reimbursement = money.refund_total(lines), money.reimbursement_total(lines)
        if refund + reimbursement == 0:
            self._paid_lines = lines
            self._finish_payout()
            return
        self._payout_status = PayoutStatus.PENDING
        key = self._payout_key(self._payout_generation)
        # After a resume, the keys refused before are looked up first (see PaymentActivities).
        earlier = [self._payout_key(g) for g in range(self._payout_generation)]
        request = PayoutRequest(idempotency_key=key, case_id=self._case_id, order_id=self._order.order_id,
                                shop_id=self._order.shop_id, buyer_id=self._order.buyer_id,
                                currency=self._order.currency, refund=refund, reimbursement=reimbursement, lines=lines,
                                earlier_keys=earlier)
        try:
            if self._payout_listed_when_slow:
                result = await self._pay_first_quietly(request)
            else:
                result = await self._payout(request, PAYMENT_RETRY)
        except ActivityError as err:
            cause = err.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(err)
            self._payout_status = PayoutStatus.FAILED
            self._needs_attention_reason = f"payment refused: {reason}"
            self._record(SYSTEM_ACTOR, "payment_failed", {"reason": reason, "idempotency_key": key})
            self._enter(CaseState.NEEDS_ATTENTION, self._after("needs_attention_followup",
                                                               self._policy.deadlines.needs_attention_followup))
            self._notify(WaitingOn.MERCHANT, "needs_attention", f"Refund for case {self._case_id} failed: {reason}. "
                         "Fix it and resume the case", supervisor=True, shop=False)
            return
        finally:
            self._payout_slow = False  # paid or failed: the next payout (after a resume) starts quiet again
        self._paid_lines = lines
        self._payment_id = result.payment_id
        self._record(SYSTEM_ACTOR, "refund_paid", {"payment_id": result.payment_id, "amount": result.amount,
                                                   "refund": refund, "reimbursement": reimbursement,
                                                   "currency": result.currency,
                                                   "idempotency_key": result.paid_under or key,
                                                   "already_paid": result.already_paid})
        self._notify(WaitingOn.BUYER, "refund_paid", f"{result.amount} {result.currency} minor units are on "
                     "their way back to your original payment method")
        self._finish_payout()

    def _payout_key(self, generation: int) -> str:
        return payout_key(CaseRef(self._order.shop_id, self._case_id), generation)

    async def _pay_first_quietly(self, request: PayoutRequest) -> PayoutResult:
        """One attempt before the case is listed as refunding: most payouts succeed at once, and
        then the case goes from its last listed attributes straight to refunded (one visibility
        write fewer). A first attempt that fails, or has not succeeded within
        PAYMENT_FIRST_ATTEMPT_WITHIN of being scheduled, makes the case listed as refunding, so
        operators find it, and the payout is retried as before under the same idempotency key
        (the activity looks the key up before paying). A refusal (a permanent 4xx) is not
        retried: the caller puts the case in needs_attention."""
        try:
            return await self._payout(request, PAYMENT_FIRST_ATTEMPT, within=PAYMENT_FIRST_ATTEMPT_WITHIN)
        except ActivityError as err:
            if isinstance(err.cause, ApplicationError) and err.cause.non_retryable:
                raise
            workflow.logger.info("payout %s did not succeed at once (%s); retrying", request.idempotency_key,
                                 err.cause or err)
        self._payout_slow = True
        self._publish()
        return await self._payout(request, PAYMENT_RETRY)

    async def _payout(self, request: PayoutRequest, retry_policy: RetryPolicy,
                      within: timedelta | None = None) -> PayoutResult:
        return await workflow.execute_activity_method(
            PaymentActivities.pay_refund, request, start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=within, retry_policy=retry_policy,
            summary=f"pay {request.refund + request.reimbursement} {request.currency}")

    def _finish_payout(self) -> None:
        self._payout_status = PayoutStatus.PAID
        if self._type in (CaseType.EXCHANGE, CaseType.REPAIR) and not self._converted_to_refund:
            self._end(CaseState.COMPLETED, None)
        else:
            self._end(CaseState.REFUNDED, None)

    def _complete(self) -> None:
        if money.reimbursement_total(self._lines()) > 0:
            self._enter(CaseState.REFUNDING, None)
        else:
            self._end(CaseState.COMPLETED, None)

    # ----------------------------------------------------------------------------------------
    # State changes, timeline, settlement

    def _enter(self, state: CaseState, deadline: Deadline | None) -> None:
        if state not in (CaseState.AWAITING_BUYER_RESPONSE,):
            self._buyer_context = None
        self._state = state
        self._deadline = deadline
        self._touch()

    def _close(self, reason: CloseReason) -> None:
        self._end(CaseState.CLOSED, reason)
        self._notify(WaitingOn.BUYER, "closed", f"Case {self._case_id} is closed: {reason}")

    def _end(self, state: CaseState, reason: CloseReason | None) -> None:
        self._close_reason = reason
        self._ended_at = workflow.now()
        self._enter(state, None)
        self._record(SYSTEM_ACTOR, "ended", {"state": state, "close_reason": reason})

    def _settle(self) -> None:
        if self._settled:
            return
        self._settled = True
        refunded = money.refund_total(self._paid_lines or []) if self._state == CaseState.REFUNDED else 0
        shipping = any(line.kind == LineKind.ORIGINAL_SHIPPING for line in (self._paid_lines or [])) and refunded > 0
        settlement = CaseSettlement(case_id=self._case_id, refunded=refunded, shipping_refunded=shipping,
                                    keeps_items=self._state == CaseState.REFUNDED)
        ledger = workflow.get_external_workflow_handle(self._start.ledger_workflow_id)
        self._notifications.append(asyncio.ensure_future(ledger.signal("case_settled", settlement)))

    def _touch(self) -> None:
        self._version += 1
        self._updated_at = workflow.now()

    def _record(self, actor: Principal, action: str, detail: dict[str, Any], at: datetime | None = None) -> None:
        self._timeline.append(TimelineEntry(at=at or workflow.now(), actor=TimelineActor(role=actor.role, id=actor.id),
                                            action=action, detail=detail))

    def _notify(self, party: WaitingOn, kind: str, message: str, *, supervisor: bool = False,
                shop: bool = True) -> None:
        recipients: list[tuple[Role, str]] = []
        if party == WaitingOn.BUYER:
            recipients.append((Role.BUYER, self._order.buyer_id))
        elif party == WaitingOn.PLATFORM:
            recipients.append((Role.PLATFORM, "platform"))
        else:
            if shop:
                recipients.append((Role.STAFF, self._order.shop_id))
            if supervisor:
                recipients.append((Role.SUPERVISOR, self._order.shop_id))
        case = CaseRef(self._order.shop_id, self._case_id)
        for role, recipient in recipients:
            n = Notification(dedupe_key=notification_key(case, len(self._timeline), kind, role), case_id=self._case_id,
                             shop_id=self._order.shop_id, recipient_role=role, recipient_id=recipient, kind=kind,
                             message=message)
            self._notifications.append(workflow.start_activity_method(
                NotificationActivities.send_notification, n, start_to_close_timeout=timedelta(seconds=10),
                schedule_to_close_timeout=timedelta(hours=1), retry_policy=NOTIFY_RETRY,
                summary=f"{kind} → {role} {recipient}"))
        self._notifications = [t for t in self._notifications if not t.done()]

    async def _drain_notifications(self) -> None:
        pending, self._notifications = self._notifications, []
        results = await asyncio.gather(*pending, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                workflow.logger.warning("a notification was not delivered: %s", result)

    # ----------------------------------------------------------------------------------------
    # What operators and users see

    def _facts(self) -> CaseFacts:
        return CaseFacts(state=self._state, type=self._type, order_shipped=self._order.shipped_at is not None,
                         buyer_context=self._buyer_context, has_deadline=self._deadline is not None,
                         merchant_owns_deadline=self._deadline is not None
                         and self._deadline.owner == WaitingOn.MERCHANT)

    def _publish(self) -> None:
        """Keep search attributes and current details current; upsert only what changed."""
        d = self._deadline
        values = sa.values(
            state=self._state, case_type=self._type, order=self._order, waiting_on=WAITING_ON.get(self._state),
            next_deadline=d.at if d else None, dispute_risk=self._dispute_risk,
            tracking_numbers=[t for t in (self._return_tracking, self._outbound_tracking) if t],
        )
        updates = []
        # A payout's first attempt is not listed (PAYOUT_LISTED_WHEN_SLOW; see _pay_first_quietly).
        quiet = self._payout_listed_when_slow and self._state == CaseState.REFUNDING and not self._payout_slow
        for name, value in () if quiet else values.items():
            if self._published.get(name, "<unset>") == value:
                continue
            key = sa.BY_NAME[name]
            updates.append(key.value_unset() if value is None else key.value_set(value))  # type: ignore[attr-defined]
            self._published[name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
        waiting = WAITING_ON.get(self._state)
        details = f"**{self._state}**"
        if waiting:
            details += f" · waiting on {waiting}"
        if d:
            details += f" until {d.at.isoformat()} ({d.kind}: then {d.on_expiry})"
        if self._close_reason:
            details += f" · {self._close_reason}"
        if self._dispute_risk:
            details += " · ⚠ dispute risk"
        details += f"\n\nrefund {self._refund_amount()} {self._order.currency} ({self._payout_status})"
        workflow.set_current_details(details)

    @workflow.query
    def view(self) -> CaseView:
        return self._view()

    def _view(self) -> CaseView:
        d = self._deadline
        lines = self._lines()
        refund, reimbursement = money.refund_total(lines), money.reimbursement_total(lines)
        table = actions_in(self._facts())
        by_role: dict[str, list[str]] = {}
        for action, roles in table.items():
            for role in roles:
                by_role.setdefault(role.value, []).append(action)
        return CaseView(
            case_id=self._case_id, type=self._type, reason=self._reason, order_id=self._order.order_id,
            shop_id=self._order.shop_id, buyer_id=self._order.buyer_id, state=self._state,
            waiting_on=WAITING_ON.get(self._state), deadline=d.at if d else None,
            deadline_detail=DeadlineView(kind=d.kind, at=d.at, on_expiry=d.on_expiry) if d else None,
            close_reason=self._close_reason, dispute_risk=self._dispute_risk,
            refund=RefundView(amount=refund + reimbursement, refund=refund, reimbursement=reimbursement,
                              currency=self._order.currency, status=self._payout_status, breakdown=lines,
                              payment_id=self._payment_id),
            policy_version=self._policy.version, version=self._version, created_at=self._created_at,
            updated_at=self._updated_at, buyer_context=self._buyer_context, offer=self._offer,
            return_tracking=self._return_tracking, outbound_tracking=self._outbound_tracking,
            needs_attention_reason=self._needs_attention_reason, timeline=list(self._timeline),
            next_actions=list(table), actions_by_role=by_role,
        )


def _refuse(kind: str, message: str, **details: Any) -> ApplicationError:
    return ApplicationError(message, details, type=kind, non_retryable=True)


def _bad_amount(field: str, amount: int, cap: int) -> ApplicationError:
    return _refuse(errors.INVALID_PAYLOAD, f"{field}: {amount} is more than this case may refund ({cap})",
                   errors=[{"field": field, "message": f"at most {cap}"}])

