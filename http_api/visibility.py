"""Lists from Temporal visibility: the search attributes each case keeps current.

Values go into the query as single-quoted literals, and only values made of a safe set of
characters are accepted at all: the dev server's SQLite visibility mistranslates backslashes
and double quotes (one even makes the query fail as "unavailable", which the client retries),
so escaping is not enough. A filter value outside that set is a ``422``; it cannot reach the
query text. Visibility is eventually consistent: a change shows up here shortly after it is
visible in the case view.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from domain.models import CaseState, CaseType, WaitingOn
from http_api.problems import dependency_fault, invalid
from http_api.schemas import CaseSummary
from workflows import search_attributes as sa
from workflows.ids import CaseRef

#: What an id-like filter value may contain: letters and digits (any script), space and _.:@/+#-
SAFE_VALUE = re.compile(r"^[\w .:@/+#-]{1,64}$")
LIST_TIMEOUT = timedelta(seconds=10)


def is_safe(value: str) -> bool:
    return bool(SAFE_VALUE.fullmatch(value))


def literal(value: str, field: str) -> str:
    """A query literal for ``value``; ``422`` naming ``field`` if it holds unsafe characters."""
    if not is_safe(value):
        raise invalid([{"field": field, "message": "1-64 letters, digits, spaces or _ . : @ / + # -"}], "filter")
    return f"'{value}'"


def _timestamp(at: datetime) -> str:
    try:
        utc = at.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not 1970 <= utc.year <= 9999:
        raise invalid([{"field": "deadline_before", "message": "a time between 1970 and 9999"}], "filter")
    return f"'{utc.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"


@dataclass(frozen=True)
class CaseFilter:
    states: tuple[CaseState, ...] = ()
    shop_id: str | None = None
    buyer_id: str | None = None
    order_id: str | None = None
    waiting_on: WaitingOn | None = None
    type: CaseType | None = None
    deadline_before: datetime | None = None
    dispute_risk: bool | None = None
    tracking_number: str | None = None
    running_only: bool = False

    def query(self) -> str:
        """The visibility query; every value is an enum, a checked literal, a timestamp or a bool."""
        parts = ["WorkflowType = 'Case'"]
        if self.states:
            states = ", ".join(f"'{CaseState(s).value}'" for s in self.states)
            parts.append(f"{sa.CASE_STATE.name} IN ({states})")
        for key, value, field in (
            (sa.SHOP_ID, self.shop_id, "shop_id"),
            (sa.BUYER_ID, self.buyer_id, "buyer_id"),
            (sa.ORDER_ID, self.order_id, "order_id"),
            (sa.TRACKING_NUMBERS, self.tracking_number, "tracking_number"),
        ):
            if value is not None:
                parts.append(f"{key.name} = {literal(value, field)}")
        if self.waiting_on is not None:
            parts.append(f"{sa.WAITING_ON.name} = '{WaitingOn(self.waiting_on).value}'")
        if self.type is not None:
            parts.append(f"{sa.CASE_TYPE.name} = '{CaseType(self.type).value}'")
        if self.deadline_before is not None:
            parts.append(f"{sa.NEXT_DEADLINE.name} < {_timestamp(self.deadline_before)}")
        if self.dispute_risk is not None:
            parts.append(f"{sa.DISPUTE_RISK.name} = {'true' if self.dispute_risk else 'false'}")
        if self.running_only:
            parts.append("ExecutionStatus = 'Running'")
        return " AND ".join(parts)


class PageTokens:
    """Temporal's next-page token, sealed with a MAC over the token and the query it belongs to.

    Temporal answers a token it did not make with an internal error (after retries), so only
    tokens this API handed out, for this very filter, are passed on; anything else is a 422.
    """

    MAC_BYTES = 16

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, query: str, token: bytes) -> bytes:
        return hmac.new(self._key, query.encode() + b"\0" + token, hashlib.sha256).digest()[: self.MAC_BYTES]

    def seal(self, query: str, token: bytes | None) -> str | None:
        if not token:
            return None
        return base64.urlsafe_b64encode(self._mac(query, token) + token).decode().rstrip("=")

    def open(self, query: str, sealed: str | None) -> bytes | None:
        if not sealed:
            return None
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        mac, token = raw[: self.MAC_BYTES], raw[self.MAC_BYTES :]
        if not token or not hmac.compare_digest(mac, self._mac(query, token)):
            raise invalid(
                [{"field": "page_token", "message": "not the next_page_token of an earlier page of this list"}],
                "query",
            )
        return token


def summary(execution: WorkflowExecution) -> CaseSummary:
    attrs = execution.typed_search_attributes
    return CaseSummary(
        case_id=case.case_id if (case := CaseRef.from_workflow_id(execution.id)) else execution.id,
        state=attrs.get(sa.CASE_STATE),
        type=attrs.get(sa.CASE_TYPE),
        shop_id=attrs.get(sa.SHOP_ID),
        order_id=attrs.get(sa.ORDER_ID),
        buyer_id=attrs.get(sa.BUYER_ID),
        waiting_on=attrs.get(sa.WAITING_ON),
        deadline=attrs.get(sa.NEXT_DEADLINE),
        dispute_risk=bool(attrs.get(sa.DISPUTE_RISK)),
        opened_at=execution.start_time,
        running=execution.status == WorkflowExecutionStatus.RUNNING,
    )


async def list_page(
    client: Client,
    case_filter: CaseFilter,
    *,
    page_size: int,
    page_token: str | None = None,
    tokens: PageTokens | None = None,
) -> tuple[list[WorkflowExecution], str | None]:
    """One page of case workflows matching the filter, and the (sealed) token of the next page."""
    query = case_filter.query()
    executions = client.list_workflows(
        query,
        page_size=page_size,
        next_page_token=tokens.open(query, page_token) if tokens else None,
        rpc_timeout=LIST_TIMEOUT,
    )
    try:
        async with asyncio.timeout(LIST_TIMEOUT.total_seconds() * 2):
            await executions.fetch_next_page()
    except TimeoutError:
        raise dependency_fault(
            504, "listing cases took too long; narrow the filter or retry", may_have_applied=False
        ) from None
    next_token = tokens.seal(query, executions.next_page_token) if tokens else None
    return list(executions.current_page or []), next_token


async def cases_with_tracking(client: Client, tracking_number: str, *, limit: int = 20) -> list[CaseRef]:
    """Running cases that know this tracking number (return or outbound leg)."""
    if not is_safe(tracking_number):
        return []  # no case can be found by it; the case's courier polling still covers it
    executions, _ = await list_page(
        client, CaseFilter(tracking_number=tracking_number, running_only=True), page_size=limit
    )
    return [case for e in executions if (case := CaseRef.from_workflow_id(e.id))]
