"""``POST /v1/courier/events``: parcel scans pushed by the courier.

Authenticated by ``X-Signature``: the lowercase hex HMAC-SHA256 keyed with
``COURIER_WEBHOOK_SECRET`` of ``"{X-Signature-Timestamp}." + raw body`` when the courier sends
``X-Signature-Timestamp`` (Unix seconds, refused outside ``AFTERSALES_COURIER_TIMESTAMP_TOLERANCE``
of now, so a captured event cannot be replayed later), or of the raw body alone (the older scheme,
accepted until ``AFTERSALES_COURIER_REQUIRE_TIMESTAMP`` is set).

Every accepted scan goes to its parcel's workflow (``workflows.parcel``, signal-with-start) before
the ``202``: a case that claims the tracking number later, or that visibility has not indexed yet,
still gets it. The cases visibility already knows are also signalled at once (``matched``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from activities.parcels import deliver_scan
from http_api.bodies import read_object
from http_api.cases import BODY_RESPONSES, body_doc
from http_api.context import State, case_service, temporal_client
from http_api.problems import UNAVAILABLE_RESPONSES, ApiError, Problem, field_errors, invalid
from http_api.schemas import CourierAck, CourierEvent
from http_api.visibility import cases_with_tracking
from runtime.settings import Settings
from workflows.messages import ParcelEvent

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/courier", tags=["courier"])


def signature(secret: str, body: bytes) -> str:
    """The expected ``X-Signature`` of ``body``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def timestamped_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The expected ``X-Signature`` of ``body`` sent with ``X-Signature-Timestamp: timestamp``."""
    return signature(secret, timestamp.encode() + b"." + body)


def _signed(secret: str, body: bytes, presented: str | None) -> bool:
    if not secret or not presented:
        return False  # no secret configured: accept nothing rather than anything
    return hmac.compare_digest(signature(secret, body).encode(), presented.strip().lower().encode())


def _check_signature(settings: Settings, raw: bytes, presented: str | None, timestamp: str | None) -> None:
    secret = settings.courier_webhook_secret
    challenge = {"WWW-Authenticate": 'HMAC-SHA256 header="X-Signature" timestamp="X-Signature-Timestamp"'}
    if timestamp is None:
        if settings.courier_require_timestamp:
            raise ApiError(401, "missing X-Signature-Timestamp: sign the timestamp with the body", headers=challenge)
        if not _signed(secret, raw, presented):
            raise ApiError(401, "missing or wrong X-Signature", headers=challenge)
        return
    if not _signed(secret, timestamp.encode() + b"." + raw, presented):
        raise ApiError(401, "missing or wrong X-Signature (of X-Signature-Timestamp + '.' + body)", headers=challenge)
    tolerance = settings.courier_timestamp_tolerance.total_seconds()
    if not timestamp.strip().isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        raise ApiError(401, f"X-Signature-Timestamp is not within {tolerance:.0f} s of now: a replayed or delayed "
                       "event is refused; send it again with a fresh timestamp", headers=challenge)


@router.post(
    "/events",
    status_code=202,
    response_model=CourierAck,
    summary="A parcel event from the courier (HMAC-signed)",
    responses={
        401: {"model": Problem, "description": "missing or wrong X-Signature"},
        **BODY_RESPONSES,
        **UNAVAILABLE_RESPONSES,
    },
    openapi_extra=body_doc("CourierEvent", required=True),
)
async def courier_event(
    request: Request,
    state: State,
    x_signature: Annotated[
        str | None,
        Header(alias="X-Signature", description="lowercase hex HMAC-SHA256 of timestamp + '.' + raw body (or of the "
               "raw body alone without a timestamp, the older scheme)"),
    ] = None,
    x_signature_timestamp: Annotated[
        str | None, Header(alias="X-Signature-Timestamp", description="Unix seconds when signed; refused outside "
                           "the tolerance (default 5 minutes), so a replay is refused")
    ] = None,
) -> CourierAck:
    """Hands the scan to its parcel (durably), and to every case visibility already knows with
    this tracking number; ``202`` either way."""
    raw = await request.body()
    _check_signature(state.settings, raw, x_signature, x_signature_timestamp)
    body = await read_object(request, required=True)
    try:
        event = CourierEvent.model_validate(body)
    except ValidationError as err:
        raise invalid(field_errors(err), "courier event") from None
    client, service = temporal_client(request), case_service(request)
    scan = ParcelEvent(carrier=event.carrier, tracking_number=event.tracking_number, status=event.status,
                       occurred_at=event.occurred_at)
    await deliver_scan(client, state.settings.task_queue, state.settings.parcel_keep_for, scan)
    matched = 0
    for case in await cases_with_tracking(client, event.tracking_number):
        try:
            await service.parcel_event(case, scan)
            matched += 1
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # finished meanwhile: nothing to deliver
                raise
    if not matched:
        log.info("courier event for tracking number %r kept for a case to claim", event.tracking_number)
    return CourierAck(matched=matched)
