"""One subcommand per case action, generated from ``domain.rules.ACTION_TABLE``.

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

from domain.rules import ACTION_TABLE

#: A boolean field's opposite flag, where "--no-NAME" would read badly.
OPPOSITE_FLAGS = {"passed": "failed"}

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
    for action, row in ACTION_TABLE.items():
        model = row.command
        parser = subparsers.add_parser(
            action.replace("_", "-"),
            parents=[common],
            help=row.description,
            description=row.description,
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
        payload_fields = [n for n in fields if n not in ("evidence", "action", "expected_version")]
        for name in payload_fields:
            if name != "note":
                _add_field(parser, name, fields[name])
        parser.set_defaults(command="act", action=action, payload_fields=payload_fields)


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
