"""The outbound-event check of the fault harness: what the event store holds against what the
subscribed receiver acknowledged.

Pure: :func:`compare` takes the store's events (``GET /v1/events``, every page) and the receiver's
accepted deliveries in arrival order (``GET /receiver/received`` of the sandbox) and counts, per
case (``{shop_id}:{case_id}``):

- expected: the case's events in the store;
- delivered: how many of them the receiver acknowledged at least once;
- missing: expected but never acknowledged (at least once is broken);
- duplicates: acknowledgements of an event after its first (at least once allows them; the
  receiver dedupes by ``webhook-id``);
- out of order: first arrivals of an event whose per-case ``sequence`` is lower than one that
  arrived first before it (in version order per case is broken); a redelivery of an older event
  after a newer one is a duplicate, not a reordering;
- unexpected: acknowledged events the store does not hold (a forged or foreign event).

The run passes only with nothing missing, out of order or unexpected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CaseEvents:
    expected: int = 0
    delivered: int = 0
    missing: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    #: sequences of the missing events, and of those that arrived out of order
    missing_sequences: list[int] = field(default_factory=list)
    late_sequences: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.out_of_order == 0 and self.unexpected == 0


@dataclass
class EventsCheck:
    cases: dict[str, CaseEvents]
    #: subscriptions made, receiver faults injected, deliveries left pending at the end, ...
    notes: dict[str, Any] = field(default_factory=dict)
    #: False when deliveries were still pending when the harness gave up waiting for them
    drained: bool = True

    def total(self, name: str) -> int:
        return sum(int(getattr(c, name)) for c in self.cases.values())

    @property
    def ok(self) -> bool:
        return self.drained and all(c.ok for c in self.cases.values()) and self.total("expected") > 0

    def line(self) -> str:
        return (
            f"events expected {self.total('expected')}  delivered {self.total('delivered')}  "
            f"missing {self.total('missing')}  duplicates {self.total('duplicates')}  "
            f"out-of-order {self.total('out_of_order')}  unexpected {self.total('unexpected')}  "
            f"(cases {len(self.cases)}, with duplicates {sum(1 for c in self.cases.values() if c.duplicates)})"
        )


def case_key(event: Mapping[str, Any]) -> str:
    return f"{event.get('shop_id')}:{event.get('case_id')}"


def compare(stored: Iterable[Mapping[str, Any]], received: Iterable[Mapping[str, Any]]) -> dict[str, CaseEvents]:
    """Per case, the figures above. ``stored``: events with ``id``, ``case_id``, ``shop_id`` and
    ``sequence``; ``received``: the receiver's acknowledged deliveries, oldest first."""
    sequence_of: dict[str, int] = {}
    cases: dict[str, CaseEvents] = {}
    for event in stored:
        sequence_of[str(event["id"])] = int(event["sequence"])
        cases.setdefault(case_key(event), CaseEvents()).expected += 1
    first_seen: set[str] = set()
    highest: dict[str, int] = {}
    for event in received:
        key, event_id = case_key(event), str(event["id"])
        figures = cases.setdefault(key, CaseEvents())
        if event_id not in sequence_of:
            figures.unexpected += 1
            continue
        if event_id in first_seen:
            figures.duplicates += 1
            continue
        first_seen.add(event_id)
        figures.delivered += 1
        sequence = sequence_of[event_id]
        if sequence < highest.get(key, 0):
            figures.out_of_order += 1
            figures.late_sequences.append(sequence)
        highest[key] = max(highest.get(key, 0), sequence)
    for event in stored:
        if str(event["id"]) not in first_seen:
            figures = cases[case_key(event)]
            figures.missing += 1
            figures.missing_sequences.append(int(event["sequence"]))
    return cases


def report_lines(check: EventsCheck, kind_of: Mapping[str, str], *, every_case: bool = False) -> list[str]:
    """A table by script kind, then one line per case: every case with ``every_case``, otherwise
    the cases with something missing, out of order, unexpected (``PROBLEM``) or duplicated."""
    from cli import render

    by_kind: dict[str, list[CaseEvents]] = {}
    for key, figures in check.cases.items():
        by_kind.setdefault(kind_of.get(key, "(not the harness's)"), []).append(figures)
    columns = ("expected", "delivered", "missing", "duplicates", "out_of_order")
    rows = [[kind, len(cs), *(sum(getattr(c, name) for c in cs) for name in columns)]
            for kind, cs in sorted(by_kind.items())]
    lines = [render.table(rows, ["script", "cases", "events expected", "delivered", "missing", "duplicates",
                                 "out-of-order"]), check.line()]
    if check.notes:
        lines.append("events: " + ", ".join(f"{k} {v}" for k, v in check.notes.items()))
    if not check.drained:
        lines.append("  PROBLEM events: deliveries still pending when the harness stopped waiting for them")
    for key, c in sorted(check.cases.items()):
        if every_case or not c.ok or c.duplicates:
            detail = ""
            if c.missing_sequences:
                detail += f"  missing sequences {c.missing_sequences[:20]}"
            if c.late_sequences:
                detail += f"  late sequences {c.late_sequences[:20]}"
            if c.unexpected:
                detail += f"  unexpected {c.unexpected}"
            lines.append(f"  {'PROBLEM ' if not c.ok else ''}events {key} ({kind_of.get(key, '?')}): expected "
                         f"{c.expected} delivered {c.delivered} missing {c.missing} duplicates {c.duplicates} "
                         f"out-of-order {c.out_of_order}{detail}")
    return lines
