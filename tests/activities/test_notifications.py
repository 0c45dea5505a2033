"""Notices to the parties: one POST per notice, deduplicated by the channel, retried when the
channel is down and dropped when it refuses for good."""

from __future__ import annotations

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import Notification, NotificationActivities
from domain.models import Role
from notices import Readers, parse_readers
from tests.activities.recording import RecordingProvider, answer_with, refuse_connection

BASE = "http://notify.test"
PARAMS = {"case_id": "case-1", "deadline": "merchant_decision", "deadline_at": "2026-12-03T08:00:00+00:00",
          "before": "1d", "outcome": "auto-approve and refund", "amount": 19_900, "currency": "CNY"}


def reminder(**changes: object) -> Notification:
    fields: dict[str, object] = {
        "dedupe_key": "shop-1:case-1:3:reminder:staff", "case_id": "case-1", "shop_id": "shop-1",
        "recipient_role": Role.STAFF, "recipient_id": "shop-1", "kind": "reminder", "params": PARAMS}
    return Notification.model_validate({**fields, **changes})


async def send(provider: RecordingProvider, notification: Notification | None = None,
               readers: Readers | None = None) -> None:
    async with provider.client() as client:
        activities = NotificationActivities(client, BASE, readers)
        await ActivityEnvironment().run(activities.send_notification, notification or reminder())


async def send_expecting_error(provider: RecordingProvider, notification: Notification | None = None) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await send(provider, notification)
    return caught.value


async def test_notice_is_posted_once_with_its_dedupe_key_worded_in_the_shops_default_chinese():
    provider = RecordingProvider(answer_with(202, {"accepted": True}))
    await send(provider)

    assert provider.calls() == [("POST", "/messages")]
    assert provider.requests[0].headers["Idempotency-Key"] == "shop-1:case-1:3:reminder:staff"
    assert provider.body(0) == {
        "dedupe_key": "shop-1:case-1:3:reminder:staff",
        "case_id": "case-1",
        "shop_id": "shop-1",
        "recipient_role": "staff",
        "recipient_id": "shop-1",
        "kind": "reminder",
        "params": PARAMS,
        "locale": "zh-CN",
        "title": "提醒：商家处理将在1天后到期",
        "message": "售后单 case-1：商家处理的截止时间为 2026-12-03 16:00。届时无人处理将：自动同意并退款。"
                   "涉及金额：¥199.00。",
    }


async def test_an_english_shop_reads_english_in_its_own_time_zone_and_the_platform_its_own_locale():
    readers = parse_readers({"shops": {"shop-1": {"locale": "en", "time_zone": "Europe/London"}},
                             "platform": {"locale": "zh-CN"}})
    provider = RecordingProvider(answer_with(202, {"accepted": True}))
    await send(provider, readers=readers)
    await send(provider, reminder(recipient_role=Role.PLATFORM, recipient_id="platform", kind="escalated",
                                  params={"case_id": "case-1"}), readers=readers)
    staff, platform = provider.body(0), provider.body(1)
    assert staff["locale"] == "en"
    assert staff["title"] == "Reminder: merchant decision due in 1 day"
    assert staff["message"] == ("Case case-1: the merchant decision deadline is 2026-12-03 08:00. If nobody acts by "
                                "then: auto-approve and refund. Amount: CN¥199.00.")
    assert (platform["locale"], platform["title"]) == ("zh-CN", "售后单 case-1 待平台裁决")


async def test_a_notice_from_an_older_workflow_worker_is_sent_with_its_own_text():
    provider = RecordingProvider(answer_with(202, {"accepted": True}))
    old = reminder(kind="deadline_reminder", params={}, message="Decide on case case-1 within 24 hours.")
    await send(provider, old)
    assert provider.body(0)["message"] == "Decide on case case-1 within 24 hours."
    assert provider.body(0)["locale"] == "en"


@pytest.mark.parametrize("notification", [
    reminder(kind="no_such_kind"),
    reminder(params={k: v for k, v in PARAMS.items() if k != "amount"}),
    reminder(params={**PARAMS, "before": "soon"}),
], ids=["unknown kind", "missing amount", "bad duration"])
async def test_a_notice_that_cannot_be_worded_fails_for_good_and_sends_nothing(notification: Notification):
    provider = RecordingProvider(answer_with(202, {"accepted": True}))
    error = await send_expecting_error(provider, notification)
    assert (error.type, error.non_retryable) == ("NoticeUnrenderable", True)
    assert "notice cannot be worded" in error.message
    assert provider.requests == []


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_channel_down_or_throttling_is_retryable(status):
    error = await send_expecting_error(RecordingProvider(answer_with(status, {"detail": "try later"})))
    assert error.non_retryable is False
    assert error.type == "NotificationUnavailable"
    assert "try later" in error.message


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_channel_refusal_is_not_retried_and_says_why(status):
    provider = RecordingProvider(answer_with(status, {"detail": "recipient has no contact address"}))
    error = await send_expecting_error(provider)
    assert error.non_retryable is True
    assert error.type == "NotificationRefused"
    assert "recipient has no contact address" in error.message
    assert len(provider.requests) == 1


async def test_connection_error_propagates_for_temporal_to_retry():
    with pytest.raises(httpx.ConnectError):
        await send(RecordingProvider(refuse_connection))
