"""The real activity classes against the sandbox: proof that both speak the same HTTP contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import (
    CourierActivities,
    Notification,
    NotificationActivities,
    ParcelLookup,
    PaymentActivities,
    PayoutRequest,
)
from domain.models import BreakdownLine, LineKind, ParcelStatus, Role
from sandbox import PaymentFaults
from tests.sandbox.conftest import client_for


def payout_request(case_id: str = "c1", key: str | None = None) -> PayoutRequest:
    return PayoutRequest(
        idempotency_key=key or f"aftersales:{case_id}:payout:1",
        case_id=case_id,
        order_id="o1",
        shop_id="shop-1",
        buyer_id="buyer-1",
        currency="CNY",
        refund=10_000,
        reimbursement=800,
        lines=[
            BreakdownLine(kind=LineKind.ITEMS, amount=10_000),
            BreakdownLine(kind=LineKind.RETURN_SHIPPING, amount=800, note="buyer paid the return leg"),
        ],
    )


@pytest.fixture
async def http() -> AsyncIterator[Callable[[FastAPI], httpx.AsyncClient]]:
    """The activities' httpx client, wired to a sandbox app in process; closed after the test."""
    clients: list[httpx.AsyncClient] = []

    def for_app(app: FastAPI) -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox"))
        return clients[-1]

    yield for_app
    for client in clients:
        await client.aclose()


async def ledger(app: FastAPI, case_id: str = "c1") -> dict:
    async with client_for(app) as client:
        return (await client.get("/payments/ledger", params={"case_id": case_id})).json()


async def test_pay_refund_pays_once(app, http):
    acts = PaymentActivities(http(app), "http://sandbox/payments")
    first = await ActivityEnvironment().run(acts.pay_refund, payout_request())
    assert first.amount == 10_800 and first.currency == "CNY" and first.already_paid is False

    again = await ActivityEnvironment().run(acts.pay_refund, payout_request())
    assert again.payment_id == first.payment_id and again.already_paid is True
    assert (await ledger(app))["count"] == 1


async def test_pay_refund_after_a_lost_answer_finds_the_payout(make_app, http):
    app = make_app(faults=PaymentFaults(drop_after_record_rate=1))
    acts = PaymentActivities(http(app), "http://sandbox/payments")
    with pytest.raises(ApplicationError) as lost:
        await ActivityEnvironment().run(acts.pay_refund, payout_request())
    assert lost.value.type == "PaymentUnavailable" and not lost.value.non_retryable

    # Temporal's retry: the activity asks first, finds the payout, and does not pay again.
    retry = await ActivityEnvironment().run(acts.pay_refund, payout_request())
    assert retry.already_paid is True and retry.amount == 10_800
    assert (await ledger(app))["count"] == 1


async def test_pay_refund_on_injected_failure_is_retryable(make_app, http):
    app = make_app(faults=PaymentFaults(fail_rate=1))
    acts = PaymentActivities(http(app), "http://sandbox/payments")
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(acts.pay_refund, payout_request())
    assert failed.value.type == "PaymentUnavailable" and not failed.value.non_retryable
    assert (await ledger(app))["count"] == 0


async def test_pay_refund_refused_is_permanent(make_app, http):
    app = make_app(faults=PaymentFaults(refuse_case_ids=["c-closed"]))
    acts = PaymentActivities(http(app), "http://sandbox/payments")
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(acts.pay_refund, payout_request("c-closed"))
    assert refused.value.type == "PaymentRefused" and refused.value.non_retryable
    assert "buyer's account is closed" in refused.value.message


async def test_send_notification_is_delivered_once(app, http):
    acts = NotificationActivities(http(app), "http://sandbox/notify")
    notification = Notification(
        dedupe_key="c1:7:refund_paid:buyer",
        case_id="c1",
        shop_id="shop-1",
        recipient_role=Role.BUYER,
        recipient_id="buyer-1",
        kind="refund_paid",
        params={"case_id": "c1", "amount": 10_800, "currency": "CNY"},
    )
    await ActivityEnvironment().run(acts.send_notification, notification)
    await ActivityEnvironment().run(acts.send_notification, notification)
    async with client_for(app) as client:
        inbox = (await client.get("/notify/messages", params={"case_id": "c1", "recipient_role": "buyer"})).json()
    assert inbox["count"] == 1
    assert inbox["messages"][0]["message"] == "¥108.00 已原路退回您的支付账户（售后单 c1）。"


async def test_lookup_parcel(app, http):
    acts = CourierActivities(http(app), "http://sandbox/courier")
    unknown = await ActivityEnvironment().run(acts.lookup_parcel, ParcelLookup(carrier="sf", tracking_number="T1"))
    assert unknown.known is False

    async with client_for(app) as client:
        await client.post("/courier/parcels", json={"carrier": "sf", "tracking_number": "T1"})
        await client.post("/courier/parcels/sf/T1/advance", json={"status": "delivered"})
    report = await ActivityEnvironment().run(acts.lookup_parcel, ParcelLookup(carrier="sf", tracking_number="T1"))
    assert report.known is True and report.status == ParcelStatus.DELIVERED
    assert isinstance(report.occurred_at, datetime) and report.occurred_at.tzinfo is not None
