"""Inputs and outputs of the workflows, their updates and signals (one model each)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from casefeed.events import EventBatch
from domain.models import CaseRequest, CaseView, ClaimGrant, Order, ParcelStatus, Principal, Strict
from domain.policy import Policy


class OpenCaseInput(Strict):
    """The ``open_case`` update of the order ledger."""

    request: CaseRequest
    policy: Policy
    opened_by: Principal
    events: bool = Field(default=True, description="the case makes outbound events (AFTERSALES_EVENTS)")


class CommandAnswer(Strict):
    """What the case's ``command`` update answers: the case after the command and, for a case
    that records its views (``CaseStart.views``), what the command's workflow task changed (its
    events and view), for the caller to store: that task records nothing itself (see
    ``CaseWorkflow._record_events``)."""

    view: CaseView
    batch: EventBatch | None = None


class OpenCaseResult(Strict):
    case_id: str
    workflow_id: str
    created: bool = Field(description="false when this was an identical retry of an opened case")


class CaseStart(Strict):
    """The case workflow's input: everything fixed when the case opened."""

    request: CaseRequest
    policy: Policy
    grant: ClaimGrant
    opened_by: Principal
    opened_at: datetime
    ledger_workflow_id: str
    #: Outbound events on (AFTERSALES_EVENTS of whoever opened the case); a case started before the
    #: switch existed has none in its input and makes events, as it did.
    events: bool = True
    #: Each recording carries the case's view (``case_views``: what the API reads). Set by the
    #: ledger for every case it starts from this change on; a case started before has none in its
    #: input and records as it did, so running cases replay unchanged. A flag in the input rather
    #: than ``workflow.patched()``: a patch also upserts ``TemporalChangeVersion`` on every case,
    #: one more visibility write per case.
    views: bool = False


class CaseSettlement(Strict):
    """Sent by a case to its order ledger when it ends."""

    case_id: str
    refunded: int = Field(ge=0, description="refund lines paid (not reimbursements)")
    shipping_refunded: bool
    keeps_items: bool = Field(description="the claimed quantity stays used (refunded cases)")


class LedgerClaim(Strict):
    case_id: str
    items: dict[str, int]
    fingerprint: str
    refund_reserved: int
    includes_shipping: bool
    opened_at: datetime
    settled: bool = False
    refunded: int = 0
    shipping_refunded: bool = False
    keeps_items: bool = True


class LedgerState(Strict):
    shop_id: str
    order_id: str
    order: Order | None = None
    claims: list[LedgerClaim] = Field(default_factory=list)
    keep_until: datetime | None = None


class ParcelEvent(Strict):
    """A courier scan (signal ``parcel_event``)."""

    carrier: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(min_length=1, max_length=64)
    status: ParcelStatus
    occurred_at: datetime
