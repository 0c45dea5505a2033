"""One subcommand per case action, generated from ``domain.rules.PAYLOADS``.

Each payload field becomes an option (``requested_refund`` -> ``--requested-refund``), typed and
required as in the payload model; every action also takes ``--note``, ``--evidence URL``
(repeatable) and ``--expected-version``. Booleans take ``--NAME``/``--no-NAME``, except the
inspection's ``--passed``/``--failed``.
"""

from __future__ import annotations

import argparse
import enum
import types
import typing
from datetime import timedelta
from typing import Any

from pydantic.fields import FieldInfo

from domain.rules import PAYLOADS

#: A boolean field's opposite flag, where "--no-NAME" would read badly.
OPPOSITE_FLAGS = {"passed": "failed"}

SUMMARIES = {
    "approve": "approve the request (refund-only: pays out; return: the buyer ships it back)",
    "reject": "refuse the request, with a reason",
    "offer_partial_refund": "offer a partial refund; the buyer keeps the item",
    "require_return": "turn a refund-only request into a return",
    "accept_offer": "buyer: accept the offer (or the refusal / failed inspection)",
    "decline_offer": "buyer: decline a partial-refund offer",
    "revise": "buyer: revise a refused request",
    "submit_return_shipment": "buyer: the return parcel's carrier and tracking number",
    "confirm_return_received": "merchant: the returned parcel arrived",
    "record_inspection": "merchant: the inspection result",
    "ship_item": "merchant: ship the replacement or repaired item",
    "confirm_receipt": "buyer: the replacement or repaired item arrived",
    "cancel": "buyer: withdraw the request",
    "escalate": "buyer: ask the platform to decide",
    "arbitrate": "platform: decide an escalated case",
    "extend_deadline": "give the waiting party more time",
    "add_note": "add a note to the timeline",
    "resume": "supervisor: retry the step that needs attention",
}

FIELD_HELP = {
    "passed": "the item passed the inspection",
    "responsibility": "who or what caused the problem",
    "reason": "why (shown to the buyer)",
    "outcome": "the platform's decision",
    "carrier": "courier code as the sandbox/courier knows it, e.g. sf-express",
    "description": "a new description of the problem",
}

MONEY_FIELDS = frozenset({"amount", "requested_refund", "shipping_cost", "deduction"})


def _unwrap(annotation: Any) -> Any:
    """``int | None`` -> ``int``; ``Annotated[timedelta, ...]`` -> ``timedelta``."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _add_field(parser: argparse.ArgumentParser, name: str, field: FieldInfo) -> None:
    flag = "--" + name.replace("_", "-")
    kind = _unwrap(field.annotation)
    required = field.is_required()
    help_text = field.description or FIELD_HELP.get(name, "")
    if name in MONEY_FIELDS:
        help_text = (help_text + "; " if help_text else "") + "minor units (fen), e.g. 1999 for 19.99"
    if kind is bool:
        group = parser.add_mutually_exclusive_group(required=required)
        opposite = "--" + OPPOSITE_FLAGS.get(name, "no-" + name.replace("_", "-"))
        group.add_argument(flag, dest=name, action="store_true", default=None, help=help_text or None)
        group.add_argument(opposite, dest=name, action="store_false", help=f"the opposite of {flag}")
        return
    options: dict[str, Any] = {"dest": name, "required": required, "help": help_text or None}
    if kind is int:
        options["type"] = int
        options["metavar"] = "N"
    elif typing.get_origin(kind) is typing.Literal:
        options["choices"] = list(typing.get_args(kind))
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        options["choices"] = [m.value for m in kind]
    elif kind is timedelta:
        options["metavar"] = "DURATION"
        options["help"] = "a duration such as 3d, 36h, 90m"
    parser.add_argument(flag, **options)


def add_action_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``approve``, ``reject``, ... to ``subparsers``; each sets ``args.action``."""
    for action, model in PAYLOADS.items():
        parser = subparsers.add_parser(
            action.replace("_", "-"),
            parents=[common],
            help=SUMMARIES.get(action),
            description=SUMMARIES.get(action, action),
        )
        parser.add_argument("case_id", metavar="CASE_ID")
        fields = model.model_fields
        note = fields["note"]
        parser.add_argument("--note", required=note.is_required(), help="a note for the timeline")
        parser.add_argument(
            "--evidence", action="append", default=[], metavar="URL", help="a link to a photo or document (repeatable)"
        )
        parser.add_argument(
            "--expected-version",
            type=int,
            metavar="N",
            help="refuse (409) if the case changed since you read this version",
        )
        for name, field in fields.items():
            if name not in ("note", "evidence"):
                _add_field(parser, name, field)
        parser.set_defaults(command="act", action=action, payload_fields=[n for n in fields if n != "evidence"])


def payload_from(args: argparse.Namespace) -> dict[str, Any]:
    """The action's payload from parsed options (unset ones left out)."""
    payload: dict[str, Any] = {}
    for name in args.payload_fields:
        value = getattr(args, name, None)
        if value is not None:
            payload[name] = value
    if args.evidence:
        payload["evidence"] = args.evidence
    return payload
