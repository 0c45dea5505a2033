"""Our counters from workflow code, through ``workflow.metric_meter()``: replay-safe (a replayed
workflow task records nothing again), and out on the worker's Prometheus endpoint with the
workflow type, namespace and task queue as labels (``runtime.telemetry``).

Call them where the event happens in the workflow; each is one line:

    metrics.count_automatic_action(deadline_kind)   # a deadline ran out and the engine acted
    metrics.count_needs_attention(step)             # the case stopped for a person
"""

from __future__ import annotations

from temporalio import workflow


def count_automatic_action(kind: str) -> None:
    """The engine acted because the ``kind`` deadline ran out (``merchant_decision_deadline``, ...)."""
    workflow.metric_meter().create_counter(
        "aftersales_automatic_actions", "actions the engine took because a deadline ran out, by deadline kind"
    ).with_additional_attributes({"deadline": kind}).add(1)


def count_needs_attention(step: str) -> None:
    """The case went to ``needs_attention`` because ``step`` (``payout``, ``replacement_shipment`` ...)
    failed; the API's gauge counts the cases there now, this counts how often it happens."""
    workflow.metric_meter().create_counter(
        "aftersales_needs_attention_entered", "cases that went to needs_attention, by the step that failed"
    ).with_additional_attributes({"step": step}).add(1)
