"""Notices to the parties: one POST per notice, deduplicated by the channel, retried when the
channel is down and dropped when it refuses for good."""

from __future__ import annotations

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import Notification, NotificationActivities
from domain.models import Role
from tests.activities.recording import RecordingProvider, answer_with, refuse_connection

BASE = "http://notify.test"


def reminder() -> Notification:
    return Notification(
        dedupe_key="case-1:merchant_decision:24h",
        case_id="case-1",
        shop_id="shop-1",
        recipient_role=Role.STAFF,
        recipient_id="shop-1",
        kind="deadline_reminder",
        message="Decide on case case-1 within 24 hours or it is approved automatically.",
    )


async def send(provider: RecordingProvider) -> None:
    async with provider.client() as client:
        activities = NotificationActivities(client, BASE)
        await ActivityEnvironment().run(activities.send_notification, reminder())


async def send_expecting_error(provider: RecordingProvider) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await send(provider)
    return caught.value


async def test_notice_is_posted_once_with_its_dedupe_key():
    provider = RecordingProvider(answer_with(202, {"accepted": True}))
    await send(provider)

    assert provider.calls() == [("POST", "/messages")]
    assert provider.requests[0].headers["Idempotency-Key"] == "case-1:merchant_decision:24h"
    assert provider.body(0) == {
        "dedupe_key": "case-1:merchant_decision:24h",
        "case_id": "case-1",
        "shop_id": "shop-1",
        "recipient_role": "staff",
        "recipient_id": "shop-1",
        "kind": "deadline_reminder",
        "message": "Decide on case case-1 within 24 hours or it is approved automatically.",
    }


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
