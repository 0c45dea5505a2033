"""Action forms generated from the command models (``domain.commands``), and form data back into
a command's payload.

Each field of an action's model becomes an input: money fields (minor units in the model) are
typed in major units (``199.00``), booleans and enumerations are selects, evidence is one URL a
line. ``expected_version`` is a hidden field on every form. What the form data cannot be turned
into (an amount that is not a number) is a field error before anything is sent; the rest is
validated by ``domain.commands.parse_command`` and then by the engine, exactly as for the API.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from domain.commands import COMMANDS
from domain.money import ZERO_DECIMAL_CURRENCIES

#: Fields of the envelope, not of the form.
HIDDEN = frozenset({"action", "expected_version"})
MONEY = frozenset({"amount", "deduction", "shipping_cost", "requested_refund"})
LONG_TEXT = frozenset({"note", "description", "evidence"})


@dataclass
class FieldSpec:
    name: str
    kind: str  # money | bool | choice | lines | textarea | text
    required: bool
    options: list[str] = field(default_factory=list)


@dataclass
class FormSpec:
    action: str
    fields: list[FieldSpec]


def _unwrap(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _unwrap(args[0])
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def form_for(action: str) -> FormSpec:
    model = COMMANDS[action]
    specs: list[FieldSpec] = []
    for name, info in model.model_fields.items():
        if name in HIDDEN:
            continue
        annotation = _unwrap(info.annotation)
        options: list[str] = []
        if name in MONEY:
            kind = "money"
        elif annotation is bool:
            kind, options = "bool", ["true", "false"]
        elif typing.get_origin(annotation) is Literal:
            kind, options = "choice", [str(a) for a in typing.get_args(annotation)]
        elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            kind, options = "choice", [str(m.value) for m in annotation]
        elif name == "evidence":
            kind = "lines"
        elif name in LONG_TEXT:
            kind = "textarea"
        else:
            kind = "text"
        specs.append(FieldSpec(name, kind, info.is_required(), options))
    # The action's own fields first, then the note and evidence every command may carry.
    specs.sort(key=lambda s: (s.name in ("note", "evidence") and not s.required, s.name == "evidence"))
    return FormSpec(action, specs)


def to_minor(text: str, currency: str) -> int | None:
    """``"199.00"`` -> 19900 (CNY); None if it is not an amount with at most the currency's decimals."""
    digits = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    try:
        value = Decimal(text.replace(",", "").replace("¥", "").strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value() or abs(scaled) > 10**15:
        return None
    return int(scaled)


def from_minor(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return str(amount)
    major, minor = divmod(abs(amount), 100)
    return f"{'-' if amount < 0 else ''}{major}.{minor:02d}"


def payload_from_form(spec: FormSpec, form: dict[str, str], currency: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The payload for ``parse_command``, and the fields that could not be read (field -> msgid)."""
    payload: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in spec.fields:
        raw = form.get(f.name, "").strip()
        if not raw:
            continue  # left empty: not given (parse_command says so if it is required)
        if f.kind == "money":
            amount = to_minor(raw, currency)
            if amount is None:
                errors[f.name] = "Enter an amount such as 199.00"
            else:
                payload[f.name] = amount
        elif f.kind == "bool":
            if raw not in ("true", "false"):
                errors[f.name] = "Choose yes or no"
            else:
                payload[f.name] = raw == "true"
        elif f.kind == "lines":
            payload[f.name] = [line.strip() for line in raw.splitlines() if line.strip()]
        else:
            payload[f.name] = raw
    return payload, errors


def error_field(path: str) -> str:
    """``evidence.0`` -> ``evidence``: errors are shown next to the form's field."""
    return path.split(".", 1)[0] if path else "payload"
