"""What a workflow's history costs: events (by type) and bytes (payloads and the whole history)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

#: The Temporal calls a history shows, for checking that a baseline makes the same ones.
CALLS = {
    "updates": "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "signals": "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
    "activities": "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED",
    "timers": "EVENT_TYPE_TIMER_STARTED",
    "children": "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED",
    "external_signals": "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
}

#: ``by_type`` keys of calls counted apart: the case's ``record_events`` activities (casefeed; it
#: records them with a local activity now, which leaves a ``marker_recorded`` event instead),
#: its ``claim_parcel`` activities, and the scans its parcels' workflows forward (workflows.parcel).
EVENT_RECORDS = "record_events activities"
PARCEL_CLAIMS = "claim_parcel activities"
PARCEL_FORWARDS = "signals from a parcel workflow"
#: name in ``calls()`` -> (``by_type`` key, the kind of call it is counted out of)
EXTRA_CALLS = {"event_records": (EVENT_RECORDS, "activities"), "parcel_claims": (PARCEL_CLAIMS, "activities"),
               "parcel_forwards": (PARCEL_FORWARDS, "signals")}


@dataclass
class HistoryCost:
    events: int = 0
    payload_bytes: int = 0
    history_bytes: int = 0
    by_type: Counter[str] = field(default_factory=Counter)

    def __add__(self, other: HistoryCost) -> HistoryCost:
        return HistoryCost(
            self.events + other.events,
            self.payload_bytes + other.payload_bytes,
            self.history_bytes + other.history_bytes,
            self.by_type + other.by_type,
        )

    def calls(self) -> dict[str, int]:
        """The calls by kind; apart (:data:`EXTRA_CALLS`), the calls of outbound events and durable
        parcels: the baseline does not mirror them, so they are those features' cost."""
        calls = {name: self.by_type.get(event, 0) for name, event in CALLS.items()}
        for name, (key, within) in EXTRA_CALLS.items():
            calls[name] = self.by_type.get(key, 0)
            calls[within] -= calls[name]
        return calls


def payload_bytes(message: Message) -> int:
    """The bytes of every payload (data and metadata) anywhere inside ``message``."""
    if isinstance(message, Payload):
        return len(message.data) + sum(len(k) + len(v) for k, v in message.metadata.items())
    total = 0
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            total += sum(payload_bytes(v) for v in value.values() if isinstance(v, Message))
        elif descriptor.is_repeated:
            total += sum(payload_bytes(v) for v in value)
        else:
            total += payload_bytes(value)
    return total


async def history_cost(client: Client, workflow_id: str) -> HistoryCost:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    cost = HistoryCost()
    for event in history.events:
        cost.events += 1
        cost.by_type[EventType.Name(event.event_type)] += 1
        activity_type = event.activity_task_scheduled_event_attributes.activity_type.name
        if activity_type in ("record_events", "claim_parcel"):
            cost.by_type[EVENT_RECORDS if activity_type == "record_events" else PARCEL_CLAIMS] += 1
        sender = event.workflow_execution_signaled_event_attributes.external_workflow_execution.workflow_id
        if sender.startswith("parcel:"):
            cost.by_type[PARCEL_FORWARDS] += 1
        cost.payload_bytes += payload_bytes(event)
        cost.history_bytes += event.ByteSize()
    return cost
