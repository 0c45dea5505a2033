"""Parcel lookups at the courier: the polling fallback when tracking events do not arrive."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import CourierActivities, ParcelLookup, ParcelStatusReport
from domain.models import ParcelStatus
from tests.activities.recording import RecordingProvider, answer_with, refuse_connection

BASE = "http://courier.test/api/"


async def look_up(provider: RecordingProvider, tracking: str = "SF1234567890") -> ParcelStatusReport:
    async with provider.client() as client:
        activities = CourierActivities(client, BASE)
        return await ActivityEnvironment().run(
            activities.lookup_parcel, ParcelLookup(carrier="SF", tracking_number=tracking)
        )


async def look_up_expecting_error(provider: RecordingProvider) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await look_up(provider)
    return caught.value


async def test_known_parcel_reports_its_status_and_when_it_happened():
    provider = RecordingProvider(
        answer_with(200, {"status": "delivered", "occurred_at": "2025-03-14T10:00:00+00:00", "carrier": "SF"})
    )
    report = await look_up(provider)

    assert report == ParcelStatusReport(
        known=True, status=ParcelStatus.DELIVERED, occurred_at=datetime(2025, 3, 14, 10, tzinfo=UTC)
    )
    assert provider.calls() == [("GET", "/api/parcels/SF/SF1234567890")]


async def test_parcel_in_transit_is_known_but_not_delivered():
    report = await look_up(RecordingProvider(answer_with(200, {"status": "in_transit"})))
    assert report.known
    assert report.status == ParcelStatus.IN_TRANSIT
    assert report.occurred_at is None


async def test_unknown_tracking_number_is_reported_not_raised():
    report = await look_up(RecordingProvider(answer_with(404, {"detail": "unknown tracking number"})))
    assert report == ParcelStatusReport(known=False)


@pytest.mark.parametrize("status", [500, 502, 429])
async def test_courier_down_or_throttling_is_retryable(status):
    error = await look_up_expecting_error(RecordingProvider(answer_with(status, {"detail": "busy"})))
    assert error.non_retryable is False
    assert error.type == "CourierUnavailable"
    assert "busy" in error.message


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_courier_refusal_is_not_retried_and_says_why(status):
    error = await look_up_expecting_error(RecordingProvider(answer_with(status, {"detail": "carrier not supported"})))
    assert error.non_retryable is True
    assert error.type == "CourierRefused"
    assert "carrier not supported" in error.message


async def test_connection_error_propagates_for_temporal_to_retry():
    with pytest.raises(httpx.ConnectError):
        await look_up(RecordingProvider(refuse_connection))


@pytest.mark.parametrize("tracking", ["SF12#3", "SF12?page=2", "SF/../../payouts/x", "SF 12"])
async def test_tracking_number_typed_by_the_buyer_is_looked_up_exactly(tracking):
    # A '#', '?' or '/' in the buyer's tracking number must not make us ask about another parcel.
    provider = RecordingProvider(answer_with(404, {"detail": "unknown tracking number"}))
    await look_up(provider, tracking=tracking)
    [request] = provider.requests
    assert request.url.query == b""
    assert request.url.path == f"/api/parcels/SF/{tracking}"
    assert request.url.raw_path.count(b"/") == 4
