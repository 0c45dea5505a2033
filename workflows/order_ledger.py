"""OrderLedgerWorkflow: the one writer of an order's claims.

Every case of an order is opened through this workflow (id ``order:{shop_id}:{order_id}``), so
two cases of one order that race for the same quantity or the same money are serialized here:
one wins, the other gets a clear refusal and no case is created. A request for another shop or
order than the ledger's is refused.

- Update ``open_case(OpenCaseInput) -> OpenCaseResult``: checks eligibility against the claims
  of earlier cases, reserves the quantity and the refund ceiling, and starts the case workflow
  (``case:{shop_id}:{case_id}``) as an abandoned child. An identical retry returns the same case; the same
  ``case_id`` with a different body is a conflict.
- Signal ``case_settled(CaseSettlement)``: a case ended; what it did not refund is released.
- Query ``ledger() -> LedgerState``.
- Timer: the ledger closes once every case is settled and the order's after-sales windows
  (plus a margin) have passed; before that a new case sees every earlier one. When the history
  grows long it continues as new, once no ``open_case`` is still running.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from domain import errors
    from domain.eligibility import Ineligible, check_eligibility
    from domain.money import grant_for
    from domain.policy import Policy
    from workflows import search_attributes as sa
    from workflows.ids import case_workflow_id
    from workflows.messages import (
        CaseSettlement,
        CaseStart,
        LedgerClaim,
        LedgerState,
        OpenCaseInput,
        OpenCaseResult,
    )

#: After-sales stays possible this long past the longest window; the ledger outlives it.
KEEP_MARGIN = timedelta(days=30)


@workflow.defn(name="OrderLedger")
class OrderLedgerWorkflow:
    @workflow.init
    def __init__(self, state: LedgerState) -> None:
        self._state = state

    @workflow.run
    async def run(self, state: LedgerState) -> LedgerState:
        if self._state.keep_until is None:
            # Started for a first case that is about to arrive; do not linger if it never does.
            self._state.keep_until = workflow.now() + timedelta(hours=1)
        while True:
            await workflow.wait_condition(lambda: self._all_settled() or self._history_long())
            if self._history_long():
                # An open_case still running would lose its answer to the new run: let it finish.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)
            idle_for = self._state.keep_until - workflow.now()
            if idle_for > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: not self._all_settled() or self._history_long(),
                        timeout=idle_for,
                        timeout_summary="order's after-sales windows end",
                    )
                    continue
                except TimeoutError:
                    pass
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._all_settled():
                break
        return self._state

    @staticmethod
    def _history_long() -> bool:
        return workflow.info().is_continue_as_new_suggested()

    def _all_settled(self) -> bool:
        return all(c.settled for c in self._state.claims)

    @workflow.query
    def ledger(self) -> LedgerState:
        return self._state

    def _claim(self, case_id: str) -> LedgerClaim | None:
        return next((c for c in self._state.claims if c.case_id == case_id), None)

    def _holdings(self, excluding: str | None = None) -> tuple[dict[str, int], int, bool]:
        """Quantity still claimed per sku, refund reserved or paid, whether shipping is taken."""
        claimed: dict[str, int] = {}
        reserved = 0
        shipping_taken = False
        for c in self._state.claims:
            if c.case_id == excluding:
                continue
            if not c.settled or c.keeps_items:
                for sku, qty in c.items.items():
                    claimed[sku] = claimed.get(sku, 0) + qty
            reserved += c.refunded if c.settled else c.refund_reserved
            shipping_taken |= c.shipping_refunded if c.settled else c.includes_shipping
        return claimed, reserved, shipping_taken

    def _check(self, data: OpenCaseInput) -> LedgerClaim | None:
        """Refuse an ineligible or conflicting request; return the claim of an identical retry."""
        request = data.request
        if (request.order.shop_id, request.order.order_id) != (self._state.shop_id, self._state.order_id):
            raise ApplicationError(
                f"order: this ledger keeps order {self._state.order_id} of shop {self._state.shop_id}, "
                f"not order {request.order.order_id} of shop {request.order.shop_id}",
                {"errors": [{"field": "order", "message": "another shop's or another order's ledger"}]},
                type=errors.INELIGIBLE,
                non_retryable=True,
            )
        existing = self._claim(request.case_id)
        if existing is not None:
            if existing.fingerprint == request.fingerprint():
                return existing
            raise ApplicationError(
                f"case {request.case_id} already exists with a different request",
                {"case_id": request.case_id},
                type=errors.CASE_CONFLICT,
                non_retryable=True,
            )
        order = self._state.order
        if order is not None and (
            order.paid_total != request.order.paid_total
            or order.currency != request.order.currency
            or order.items != request.order.items
            or order.buyer_id != request.order.buyer_id
        ):
            raise ApplicationError(
                "order: differs from the order on file for earlier cases "
                "(buyer, currency, paid_total and items must stay the same)",
                {"errors": [{"field": "order", "message": "differs from the order on file"}]},
                type=errors.INELIGIBLE,
                non_retryable=True,
            )
        claimed, reserved, shipping_taken = self._holdings()
        try:
            check_eligibility(
                request,
                now=workflow.now(),
                policy=data.policy,
                claimed_before=claimed,
                refund_reserved_before=reserved,
                shipping_already_refunded=shipping_taken,
            )
        except Ineligible as err:
            raise ApplicationError(
                str(err),
                {"errors": [{"field": err.field, "message": err.message}]},
                type=errors.INELIGIBLE,
                non_retryable=True,
            ) from None
        return None

    @workflow.update
    async def open_case(self, data: OpenCaseInput) -> OpenCaseResult:
        request = data.request
        # Checked again here, before any await: two opens validated in one workflow task must
        # not both pass on the same holdings.
        if self._check(data) is not None:
            return OpenCaseResult(
                case_id=request.case_id, workflow_id=case_workflow_id(request.order.shop_id, request.case_id), created=False
            )
        claimed, reserved, shipping_taken = self._holdings()
        grant = grant_for(
            request,
            claimed_before=claimed,
            refund_reserved_before=reserved,
            shipping_already_refunded=shipping_taken,
        )
        now = workflow.now()
        claim = LedgerClaim(
            case_id=request.case_id,
            items={c.sku: c.quantity for c in request.items},
            fingerprint=request.fingerprint(),
            refund_reserved=grant.max_refund,
            includes_shipping=grant.includes_original_shipping,
            opened_at=now,
        )
        self._state.order = self._state.order or request.order
        self._state.claims.append(claim)
        self._extend_keep(data.policy, now)
        try:
            await workflow.start_child_workflow(
                "Case",
                CaseStart(
                    request=request,
                    policy=data.policy,
                    grant=grant,
                    opened_by=data.opened_by,
                    opened_at=now,
                    ledger_workflow_id=workflow.info().workflow_id,
                    views=True,
                    events=data.events,
                ),
                id=case_workflow_id(request.order.shop_id, request.case_id),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"{request.type} · {request.reason} · order {request.order.order_id}",
                # Searchable from the start, even while a flood of openings waits for workers; the
                # case then upserts only what differs (v4: one event and one visibility write fewer).
                search_attributes=sa.at_start(request.type, request.order, now + data.policy.deadlines.merchant_decision(
                    request.order.shipped_at is not None)),
            )
        except WorkflowAlreadyStartedError:
            self._state.claims.remove(claim)
            raise ApplicationError(
                f"case_id {request.case_id} is already used by another case",
                {"case_id": request.case_id},
                type=errors.CASE_CONFLICT,
                non_retryable=True,
            ) from None
        return OpenCaseResult(case_id=request.case_id, workflow_id=case_workflow_id(request.order.shop_id, request.case_id), created=True)

    @open_case.validator
    def _validate_open_case(self, data: OpenCaseInput) -> None:
        self._check(data)

    def _extend_keep(self, policy: Policy, now) -> None:  # noqa: ANN001 - datetime
        order = self._state.order
        assert order is not None
        longest = max([g.days for g in order.guarantees] + [policy.eligibility.seller_fault_claim_days])
        keep = now + timedelta(days=longest) + KEEP_MARGIN
        if self._state.keep_until is None or keep > self._state.keep_until:
            self._state.keep_until = keep

    @workflow.signal
    def case_settled(self, settlement: CaseSettlement) -> None:
        claim = self._claim(settlement.case_id)
        if claim is None or claim.settled:
            return
        claim.settled = True
        claim.refunded = min(settlement.refunded, claim.refund_reserved)
        claim.shipping_refunded = settlement.shipping_refunded
        claim.keeps_items = settlement.keeps_items
