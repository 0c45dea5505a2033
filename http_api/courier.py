"""``POST /v1/courier/events``: parcel scans pushed by the courier.

Authenticated by ``X-Signature``: the lowercase hex HMAC-SHA256 of the raw body keyed with
``COURIER_WEBHOOK_SECRET``. The case is found by its tracking number in visibility and signalled;
an unknown tracking number is accepted and ignored (``202``) so the courier does not retry it.
Visibility lags a new tracking number by a moment; an event lost that way is not lost for good,
because a case with a return in transit also polls the courier.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from http_api.bodies import read_object
from http_api.cases import BODY_RESPONSES, body_doc
from http_api.context import State, case_service, temporal_client
from http_api.problems import UNAVAILABLE_RESPONSES, ApiError, Problem, field_errors, invalid
from http_api.schemas import CourierAck, CourierEvent
from http_api.visibility import case_ids_with_tracking
from workflows.messages import ParcelEvent

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/courier", tags=["courier"])


def signature(secret: str, body: bytes) -> str:
    """The expected ``X-Signature`` of ``body``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _signed(secret: str, body: bytes, presented: str | None) -> bool:
    if not secret or not presented:
        return False  # no secret configured: accept nothing rather than anything
    return hmac.compare_digest(signature(secret, body).encode(), presented.strip().lower().encode())


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
        str | None, Header(alias="X-Signature", description="lowercase hex HMAC-SHA256 of the raw body")
    ] = None,
) -> CourierAck:
    """Delivers the scan to every open case with this tracking number; ``202`` either way."""
    raw = await request.body()
    if not _signed(state.settings.courier_webhook_secret, raw, x_signature):
        raise ApiError(
            401, "missing or wrong X-Signature", headers={"WWW-Authenticate": 'HMAC-SHA256 header="X-Signature"'}
        )
    body = await read_object(request, required=True)
    try:
        event = CourierEvent.model_validate(body)
    except ValidationError as err:
        raise invalid(field_errors(err), "courier event") from None
    client, service = temporal_client(request), case_service(request)
    matched = 0
    for case_id in await case_ids_with_tracking(client, event.tracking_number):
        try:
            await service.parcel_event(
                case_id,
                ParcelEvent(
                    carrier=event.carrier,
                    tracking_number=event.tracking_number,
                    status=event.status,
                    occurred_at=event.occurred_at,
                ),
            )
            matched += 1
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # finished meanwhile: nothing to deliver
                raise
    if not matched:
        log.info("courier event for unknown tracking number %r ignored", event.tracking_number)
    return CourierAck(matched=matched)
