"""The API's own request and response models; the case models themselves come from ``domain``.

Each action's request body is its command model (``domain.commands``), so the OpenAPI schema
shows exactly what the engine validates.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.commands import COMMANDS, Command
from domain.models import CaseState, CaseType, ParcelStatus, WaitingOn

#: The request body of ``POST /v1/cases/{case_id}/{action}``, per action: the command model itself
#: (its docstring is the action's one-line description, its fields the payload plus
#: ``expected_version``).
COMMAND_MODELS: dict[str, type[Command]] = COMMANDS


class CaseSummary(BaseModel):
    """One row of ``GET /v1/cases``: from the case's search attributes (may lag the view briefly),
    or, with ``updated_after``, from the event store's ``cases`` read model (written in the step
    that made the change, so it does not lag)."""

    case_id: str
    state: CaseState | None = None
    type: CaseType | None = None
    shop_id: str | None = None
    order_id: str | None = None
    buyer_id: str | None = None
    waiting_on: WaitingOn | None = None
    deadline: datetime | None = Field(default=None, description="the current deadline, if the case has one")
    dispute_risk: bool = False
    opened_at: datetime | None = None
    running: bool | None = Field(
        default=True,
        description="false once the case's workflow has finished (after follow-up); null with updated_after "
        "(the read model follows the case, not its workflow run)",
    )
    updated_at: datetime | None = Field(default=None, description="with updated_after: when the case last changed")
    version: int | None = Field(default=None, description="with updated_after: the case version the row describes")


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_page_token: str | None = Field(
        default=None, description="pass as page_token to get the next page; null on the last page"
    )
    cursor: int | None = Field(
        default=None,
        description="with updated_after: the event cursor of the last row (or of the newest change when the page "
        "is empty); follow on gap-free with GET /v1/events/cases?after=<cursor>",
    )


class CourierEvent(BaseModel):
    """A parcel scan pushed by the courier (``POST /v1/courier/events``)."""

    model_config = ConfigDict(extra="ignore")  # couriers add fields; we read what we need

    carrier: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(min_length=1, max_length=64)
    status: ParcelStatus
    occurred_at: AwareDatetime


class CourierAck(BaseModel):
    accepted: bool = True
    matched: int = Field(description="how many open cases the event was delivered to (0: unknown tracking number)")


class Health(BaseModel):
    ok: bool
    temporal: str | None = None
