"""Refund payouts through the payment provider, exactly once.

The idempotency key comes from the workflow. Before paying, the activity asks the provider
whether that key was already paid (a crash after the provider recorded the payment but before
the workflow heard of it); only if not does it pay, and the payment itself carries the key so
the provider drops a duplicate even if two attempts race.

A payout after a ``resume`` runs under a new key (a provider may remember the refusal under the
old one), so it first looks up every earlier key of the case too. A payment the provider has
recorded under one of them by then (it refused, then paid after all) is the case's payment and
nothing is paid again; if its amount or currency is not what the case pays, the payout stops
for a person to reconcile. What this cannot see: a provider that records the earlier payment
only after the lookup, or has forgotten a key it paid. An answer about an earlier key:
``200`` paid; ``404`` and ``410`` not paid; another 4xx is a refusal to report it as paid
(the provider remembering the refusal), so not paid either, with a warning in the worker's log;
another 2xx (say ``202``: the payout is still being processed) and 5xx, 408, 409, 425, 429 are
retried, so nothing is paid while a payment may be on its way. For the payout's own key the
same, except that another 4xx is a permanent refusal, as when paying.
"""

from __future__ import annotations

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import _metrics
from activities._http import RETRYABLE_STATUS, raise_for_provider
from activities.contracts import PayoutRequest, PayoutResult


class PaymentActivities:
    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")

    @activity.defn(name="pay_refund")
    async def pay_refund(self, request: PayoutRequest) -> PayoutResult:
        try:
            result = await self._pay(request)
        except Exception as err:
            _metrics.payout_failed(err)
            activity.logger.warning("payout %s for case %s failed: %s", request.idempotency_key, request.case_id, err)
            raise
        _metrics.payout_paid(result)
        # One line per payout that moved (or found) money: what operators reconcile against.
        activity.logger.info("payout %s for case %s: %s %d %s (payment %s)", request.idempotency_key,
                             request.case_id, "already paid" if result.already_paid else "paid", result.amount,
                             result.currency, result.payment_id)
        return result

    async def _pay(self, request: PayoutRequest) -> PayoutResult:
        for key in request.earlier_keys:
            found = await self._lookup(key, earlier=True)
            if found is not None:
                activity.logger.warning("payout %s: the provider recorded the earlier payout %s after all; "
                                        "not paying again", request.idempotency_key, key)
                return self._earlier_payment(request, key, found)
        found = await self._lookup(request.idempotency_key, earlier=False)
        if found is not None:
            return self._result(found, already_paid=True)

        response = await self._client.post(
            f"{self._base_url}/payouts",
            json=request.provider_body(),
            headers={"Idempotency-Key": request.idempotency_key},
        )
        raise_for_provider(response, "payment", permanent_type="PaymentRefused")
        body = response.json()
        return self._result(body, already_paid=bool(body.get("replayed", False)))

    async def _lookup(self, key: str, *, earlier: bool) -> dict | None:
        """The payout the provider recorded under ``key``, or None if it has none (see the module
        docstring for how each answer reads)."""
        answer = await self._client.get(f"{self._base_url}/payouts/{key}")
        status = answer.status_code
        if status == 200:
            return dict(answer.json())
        if status == 404 or (earlier and status == 410):
            return None
        if answer.is_success:
            raise ApplicationError(f"payment answered {status} about payout {key}: not settled yet; asking again",
                                   type="PaymentUnavailable")
        if earlier and 400 <= status < 500 and status not in RETRYABLE_STATUS:
            activity.logger.warning("the provider answered %s about the earlier payout %s; taking it as not paid",
                                    status, key)
            return None
        raise_for_provider(answer, "payment", permanent_type="PaymentRefused")
        return None  # unreachable: raise_for_provider raised for every status left

    def _earlier_payment(self, request: PayoutRequest, key: str, body: dict) -> PayoutResult:
        result = self._result(body, already_paid=True).model_copy(update={"paid_under": key})
        expected = request.refund + request.reimbursement
        if (result.amount, result.currency) != (expected, request.currency):
            raise ApplicationError(
                f"the provider recorded {result.amount} {result.currency} under the earlier payout {key}, not the "
                f"{expected} {request.currency} this case pays: reconcile it with the provider by hand",
                {"paid_under": key, "payment_id": result.payment_id, "amount": result.amount,
                 "currency": result.currency},
                type="PaymentMismatch", non_retryable=True)
        return result

    @staticmethod
    def _result(body: dict, *, already_paid: bool) -> PayoutResult:
        return PayoutResult(
            payment_id=str(body["payment_id"]),
            amount=int(body["amount"]),
            currency=str(body["currency"]),
            already_paid=already_paid,
        )
