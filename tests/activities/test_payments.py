"""Refund payouts: paid exactly once, retried when the provider may succeed later, stopped when
it never will."""

from __future__ import annotations

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import PaymentActivities, PayoutRequest, PayoutResult
from domain.models import BreakdownLine, LineKind
from tests.activities.recording import RecordingProvider, answer_with, refuse_connection

BASE = "http://payments.test/v1"
KEY = "payout-case-1-1"
PAID = {"payment_id": "pay-42", "amount": 12_200, "currency": "CNY", "case_id": "case-1"}


def payout_request(earlier_keys: list[str] | None = None) -> PayoutRequest:
    return PayoutRequest(
        idempotency_key=KEY,
        earlier_keys=earlier_keys or [],
        case_id="case-1",
        order_id="order-1",
        shop_id="shop-1",
        buyer_id="buyer-1",
        currency="CNY",
        refund=11_000,
        reimbursement=1_200,
        lines=[
            BreakdownLine(kind=LineKind.ITEMS, amount=10_000),
            BreakdownLine(kind=LineKind.ORIGINAL_SHIPPING, amount=1_000),
            BreakdownLine(kind=LineKind.RETURN_SHIPPING, amount=1_200),
        ],
    )


def not_paid_yet_then(post_status: int, post_body=None, **kwargs):
    """GET answers 404 (the key was never paid); POST answers as given."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(404, json={"detail": "no payout"})
        if post_body is None:
            return httpx.Response(post_status, **kwargs)
        return httpx.Response(post_status, json=post_body, **kwargs)

    return answer


async def pay(provider: RecordingProvider, base: str = BASE, earlier_keys: list[str] | None = None) -> PayoutResult:
    async with provider.client() as client:
        activities = PaymentActivities(client, base)
        return await ActivityEnvironment().run(activities.pay_refund, payout_request(earlier_keys))


async def pay_expecting_error(provider: RecordingProvider, earlier_keys: list[str] | None = None) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await pay(provider, earlier_keys=earlier_keys)
    return caught.value


# --------------------------------------------------------------------------------------------
# Paying


async def test_new_payout_is_checked_then_paid_with_the_idempotency_key():
    provider = RecordingProvider(not_paid_yet_then(201, PAID))
    result = await pay(provider)

    assert result == PayoutResult(payment_id="pay-42", amount=12_200, currency="CNY", already_paid=False)
    assert provider.calls() == [("GET", f"/v1/payouts/{KEY}"), ("POST", "/v1/payouts")]
    post = provider.requests[1]
    assert post.headers["Idempotency-Key"] == KEY
    body = provider.body(1)
    assert body["idempotency_key"] == KEY
    assert (body["refund"], body["reimbursement"], body["currency"]) == (11_000, 1_200, "CNY")
    assert [line["kind"] for line in body["lines"]] == ["items", "original_shipping", "return_shipping"]


async def test_already_paid_key_is_not_paid_again():
    provider = RecordingProvider(answer_with(200, PAID))
    result = await pay(provider)

    assert result.already_paid is True
    assert result.payment_id == "pay-42"
    assert result.amount == 12_200
    assert [method for method, _ in provider.calls()] == ["GET"]


async def test_provider_replaying_a_racing_duplicate_reports_already_paid():
    provider = RecordingProvider(not_paid_yet_then(200, {**PAID, "replayed": True}))
    result = await pay(provider)
    assert result.already_paid is True
    assert result.payment_id == "pay-42"


async def test_base_url_with_a_trailing_slash_reaches_the_same_paths():
    provider = RecordingProvider(not_paid_yet_then(201, PAID))
    await pay(provider, base=BASE + "/")
    assert provider.calls() == [("GET", f"/v1/payouts/{KEY}"), ("POST", "/v1/payouts")]


# --------------------------------------------------------------------------------------------
# After a resume: the earlier (refused) keys are looked up first

EARLIER = ["payout-case-1-0a", "payout-case-1-0b"]


def by_key(paid: dict[str, dict], post_status: int = 201):
    """GET answers 200 for the keys in ``paid`` and 404 for the rest; POST pays."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            key = request.url.path.rsplit("/", 1)[-1]
            return httpx.Response(200, json=paid[key]) if key in paid else httpx.Response(404, json={"detail": "no"})
        return httpx.Response(post_status, json=PAID)

    return answer


async def test_earlier_keys_never_paid_are_looked_up_then_the_new_key_pays():
    provider = RecordingProvider(by_key({}))
    result = await pay(provider, earlier_keys=EARLIER)
    assert result.already_paid is False
    assert provider.calls() == [("GET", f"/v1/payouts/{EARLIER[0]}"), ("GET", f"/v1/payouts/{EARLIER[1]}"),
                                ("GET", f"/v1/payouts/{KEY}"), ("POST", "/v1/payouts")]
    assert "earlier_keys" not in provider.body(3)  # the provider gets its own fields only


async def test_an_earlier_key_the_provider_paid_after_all_is_the_payment_and_nothing_is_paid_again():
    earlier_payment = {**PAID, "payment_id": "pay-7"}
    provider = RecordingProvider(by_key({EARLIER[1]: earlier_payment}))
    result = await pay(provider, earlier_keys=EARLIER)
    assert result == PayoutResult(payment_id="pay-7", amount=12_200, currency="CNY", already_paid=True,
                                  paid_under=EARLIER[1])
    assert [method for method, _ in provider.calls()] == ["GET", "GET"]


@pytest.mark.parametrize("recorded", [{"amount": 9_999}, {"currency": "USD"}])
async def test_an_earlier_payment_of_another_amount_stops_the_payout_for_a_person(recorded):
    provider = RecordingProvider(by_key({EARLIER[0]: {**PAID, **recorded}}))
    error = await pay_expecting_error(provider, earlier_keys=EARLIER)
    assert error.non_retryable is True
    assert error.type == "PaymentMismatch"
    assert EARLIER[0] in error.message and "12200 CNY" in error.message and "reconcile" in error.message
    assert [method for method, _ in provider.calls()] == ["GET"]


@pytest.mark.parametrize("status", [410, 403, 422])
async def test_an_earlier_key_the_provider_will_not_report_as_paid_is_taken_as_not_paid(status):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith(EARLIER[0]):
            return httpx.Response(status, json={"detail": "refused earlier"})
        return by_key({})(request)

    provider = RecordingProvider(answer)
    result = await pay(provider, earlier_keys=EARLIER)
    assert result.already_paid is False and result.paid_under is None
    assert [method for method, _ in provider.calls()] == ["GET", "GET", "GET", "POST"]


@pytest.mark.parametrize("status", [202, 409, 429, 503])
@pytest.mark.parametrize("earlier", [True, False])
async def test_a_payout_that_may_be_on_its_way_is_asked_about_again_and_nothing_is_paid(status, earlier):
    asked = EARLIER[0] if earlier else KEY

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith(asked):
            return httpx.Response(status, json={"detail": "processing"})
        return by_key({})(request)

    provider = RecordingProvider(answer)
    error = await pay_expecting_error(provider, earlier_keys=EARLIER)
    assert error.non_retryable is False
    assert "POST" not in [method for method, _ in provider.calls()]


async def test_a_payout_with_no_earlier_keys_reads_as_it_did_before_them():
    # Workers from before earlier_keys refuse unknown fields: a first payout must not carry it.
    assert "earlier_keys" not in payout_request().model_dump(mode="json")
    assert payout_request(EARLIER).model_dump(mode="json")["earlier_keys"] == EARLIER
    plain = PayoutResult(payment_id="p", amount=1, currency="CNY", already_paid=False)
    assert "paid_under" not in plain.model_dump(mode="json")


# --------------------------------------------------------------------------------------------
# Failures that may pass: retried


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408, 409, 425])
async def test_temporary_failure_when_paying_is_retryable(status):
    provider = RecordingProvider(not_paid_yet_then(status, {"detail": "provider overloaded"}))
    error = await pay_expecting_error(provider)
    assert error.non_retryable is False
    assert error.type == "PaymentUnavailable"
    assert f"payment answered {status}: provider overloaded" in error.message


async def test_temporary_failure_when_checking_the_key_is_retryable_and_nothing_is_paid():
    provider = RecordingProvider(answer_with(503, {"detail": "maintenance"}))
    error = await pay_expecting_error(provider)
    assert error.non_retryable is False
    assert [method for method, _ in provider.calls()] == ["GET"]


async def test_connection_error_propagates_for_temporal_to_retry():
    provider = RecordingProvider(refuse_connection)
    with pytest.raises(httpx.ConnectError):
        await pay(provider)


# --------------------------------------------------------------------------------------------
# Refusals that will not change: not retried


@pytest.mark.parametrize("status", [400, 402, 403, 422])
async def test_provider_refusal_is_not_retried_and_carries_the_providers_detail(status):
    provider = RecordingProvider(not_paid_yet_then(status, {"detail": "buyer's account is closed"}))
    error = await pay_expecting_error(provider)
    assert error.non_retryable is True
    assert error.type == "PaymentRefused"
    assert "buyer's account is closed" in error.message
    assert f"refused with {status}" in error.message
    assert error.details == ({"status": status, "detail": "buyer's account is closed"},)


async def test_refusal_when_checking_the_key_pays_nothing():
    provider = RecordingProvider(answer_with(401, {"error": "bad api key"}))
    error = await pay_expecting_error(provider)
    assert error.non_retryable is True
    assert "bad api key" in error.message
    assert [method for method, _ in provider.calls()] == ["GET"]


async def test_refusal_with_a_plain_text_body_keeps_the_text():
    provider = RecordingProvider(not_paid_yet_then(422, text="currency not supported"))
    error = await pay_expecting_error(provider)
    assert error.non_retryable is True
    assert "currency not supported" in error.message


@pytest.mark.parametrize("key", ["message", "reason"])
async def test_refusal_detail_is_read_from_the_usual_keys(key):
    provider = RecordingProvider(not_paid_yet_then(422, {key: "limit exceeded", "code": 7}))
    error = await pay_expecting_error(provider)
    assert "limit exceeded" in error.message
