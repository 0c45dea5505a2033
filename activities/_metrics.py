"""Our counters from activities, through the SDK's metric meter (``activity.metric_meter()``): they
come out on the worker's Prometheus endpoint beside the SDK's own series (``runtime.telemetry``),
with the activity type, namespace and task queue as labels. Without a metrics endpoint the meter
records nothing."""

from __future__ import annotations

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import PayoutResult


def failure_kind(err: BaseException) -> str:
    """A label with few values: the ApplicationError's type (``PaymentRefused``,
    ``PaymentUnavailable``, ``PaymentMismatch`` ...), ``transport`` for a network error, or
    ``other``."""
    if isinstance(err, ApplicationError):
        return err.type or "ApplicationError"
    if isinstance(err, httpx.TransportError):
        return "transport"
    return "other"


def payout_paid(result: PayoutResult) -> None:
    meter = activity.metric_meter()
    outcome = "already_paid" if result.already_paid else "paid"
    meter.create_counter("aftersales_payouts", "payout attempts that ended, by outcome").with_additional_attributes(
        {"outcome": outcome}
    ).add(1)
    meter.create_counter(
        "aftersales_payout_amount", "money paid out, in minor units of the currency", "minor_units"
    ).with_additional_attributes({"currency": result.currency, "outcome": outcome}).add(result.amount)


def payout_failed(err: BaseException) -> None:
    meter = activity.metric_meter()
    kind = failure_kind(err)
    permanent = isinstance(err, ApplicationError) and err.non_retryable
    meter.create_counter("aftersales_payouts", "payout attempts that ended, by outcome").with_additional_attributes(
        {"outcome": "refused" if permanent else "failed"}
    ).add(1)
    meter.create_counter(
        "aftersales_payout_failures", "payout attempts that failed, by kind and whether they are retried"
    ).with_additional_attributes({"kind": kind, "retried": "false" if permanent else "true"}).add(1)


def notification_failed(err: BaseException) -> None:
    activity.metric_meter().create_counter(
        "aftersales_notifications_failed", "notification attempts that failed, by kind"
    ).with_additional_attributes({"kind": failure_kind(err)}).add(1)
