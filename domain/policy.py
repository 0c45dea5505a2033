"""Policy: every default of ``shared/DOMAIN.md`` as a value an operator can change.

A policy file is TOML; durations are written like ``72h``, ``5d``, ``90s``, ``500ms``. The policy in force
when a case opens travels with the case (it is part of the workflow's input), so a later change
applies to new cases only. Every field has the DOMAIN.md default, so an empty file is valid.
"""

from __future__ import annotations

import hashlib
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError

from domain.durations import check_whole_milliseconds, format_duration, parse_duration


def _to_timedelta(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        # Same rule as for text: a policy that cannot be written back as "72h" and read again
        # would fail to load in the worker (or load changed: 1.5 ms would come back as 1 ms).
        return check_whole_milliseconds(value)
    return parse_duration(value)


#: A duration that reads ``"72h"`` from TOML and JSON and writes itself back the same way.
Duration = Annotated[
    timedelta,
    BeforeValidator(_to_timedelta),
    PlainSerializer(format_duration, return_type=str),
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deadlines(_Section):
    merchant_decision_unshipped: Duration = timedelta(hours=72)
    merchant_decision_shipped: Duration = timedelta(days=5)
    buyer_return_shipment: Duration = timedelta(days=7)
    merchant_inspection: Duration = timedelta(days=10)
    buyer_answer_refusal: Duration = timedelta(days=5)
    buyer_answer_offer: Duration = timedelta(days=3)
    buyer_answer_inspection: Duration = timedelta(days=5)
    merchant_ship_exchange: Duration = timedelta(days=3)
    merchant_ship_repair: Duration = timedelta(days=15)
    buyer_confirm_receipt: Duration = timedelta(days=10)
    platform_decision: Duration = timedelta(hours=48)
    needs_attention_followup: Duration = timedelta(hours=24)
    satisfaction_followup: Duration = timedelta(days=3)
    dispute_risk_after: Duration = timedelta(days=5)
    courier_poll_interval: Duration = timedelta(hours=12)
    max_extension: Duration = timedelta(days=15)

    def merchant_decision(self, order_shipped: bool) -> timedelta:
        """The merchant's window to decide a new case (longer once the order has shipped)."""
        return self.merchant_decision_shipped if order_shipped else self.merchant_decision_unshipped


class Reminders(_Section):
    """How long before a deadline each party is reminded."""

    merchant: list[Duration] = Field(default_factory=lambda: [timedelta(hours=24), timedelta(hours=2)])
    supervisor: list[Duration] = Field(default_factory=lambda: [timedelta(hours=12)])
    buyer: list[Duration] = Field(default_factory=lambda: [timedelta(hours=24)])


class Eligibility(_Section):
    receipt_grace_working_days: int = Field(default=5, ge=0, le=60)
    seller_fault_claim_days: int = Field(
        default=15, ge=0, le=3650, description="window for seller-responsible claims without a guarantee"
    )


class Money(_Section):
    staff_refund_limit: int = Field(default=50_000, ge=0, description="minor units; above it a supervisor approves")
    return_shipping_cap: int = Field(default=2_000, ge=0, description="max reimbursed return shipping, minor units")
    out_of_stock_compensation_bps: int = Field(
        default=0, ge=0, le=10_000, description="basis points of the items value; 0 = off"
    )
    out_of_stock_compensation_cap: int = Field(default=50_000, ge=0)


class Policy(_Section):
    version: str = Field(default="", max_length=64)
    deadlines: Deadlines = Field(default_factory=Deadlines)
    reminders: Reminders = Field(default_factory=Reminders)
    eligibility: Eligibility = Field(default_factory=Eligibility)
    money: Money = Field(default_factory=Money)

    def model_post_init(self, __context: Any) -> None:
        if not self.version:
            digest = hashlib.sha256(self.model_dump_json(exclude={"version"}).encode()).hexdigest()
            object.__setattr__(self, "version", f"sha-{digest[:12]}")


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the field and why."""


def load_policy(path: str | Path | None) -> Policy:
    """Load a TOML policy file; ``None`` gives the DOMAIN.md defaults."""
    if path is None:
        return Policy()
    path = Path(path)
    return parse_policy(read_toml(path, "policy file", PolicyError), source=str(path))


def read_toml(path: Path, what: str, error: type[ValueError]) -> dict[str, Any]:
    """A TOML file's content, or ``error`` saying which file (``what``) and why it cannot be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise error(f"{what} {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise error(f"{what} {path} is not valid TOML: {err}") from err


def parse_policy(data: dict[str, Any], source: str = "policy") -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise PolicyError(f"{source}: {problems}") from err
