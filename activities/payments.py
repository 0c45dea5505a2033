"""Refund payouts through the payment provider, exactly once.

The idempotency key comes from the workflow. Before paying, the activity asks the provider
whether that key was already paid (a crash after the provider recorded the payment but before
the workflow heard of it); only if not does it pay, and the payment itself carries the key so
the provider drops a duplicate even if two attempts race.

A payout after a ``resume`` runs under a new key (a provider may remember the refusal under the
old one), so it first looks up every earlier key of the case too: if the provider recorded one
of them after all (it refused, then paid), that payment is the case's, and nothing is paid again.
An earlier key the provider answers about with anything but "paid" or "unknown" stops the payout
(a permanent refusal for a 4xx, a retry for a 5xx): money is only paid when none was.
"""

from __future__ import annotations

import httpx
from temporalio import activity

from activities._http import raise_for_provider
from activities.contracts import PayoutRequest, PayoutResult


class PaymentActivities:
    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")

    @activity.defn(name="pay_refund")
    async def pay_refund(self, request: PayoutRequest) -> PayoutResult:
        for key in (*request.earlier_keys, request.idempotency_key):
            existing = await self._client.get(f"{self._base_url}/payouts/{key}")
            if existing.status_code == 200:
                if key != request.idempotency_key:
                    activity.logger.warning("payout %s: the provider recorded the earlier payout %s after all; "
                                            "not paying again", request.idempotency_key, key)
                return self._result(existing.json(), already_paid=True)
            if existing.status_code != 404:
                raise_for_provider(existing, "payment", permanent_type="PaymentRefused")

        response = await self._client.post(
            f"{self._base_url}/payouts",
            json=request.provider_body(),
            headers={"Idempotency-Key": request.idempotency_key},
        )
        raise_for_provider(response, "payment", permanent_type="PaymentRefused")
        body = response.json()
        return self._result(body, already_paid=bool(body.get("replayed", False)))

    @staticmethod
    def _result(body: dict, *, already_paid: bool) -> PayoutResult:
        return PayoutResult(
            payment_id=str(body["payment_id"]),
            amount=int(body["amount"]),
            currency=str(body["currency"]),
            already_paid=already_paid,
        )
