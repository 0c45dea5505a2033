"""Action forms come from the command models, and typed values go back into a payload that
``parse_command`` accepts: money in major units, yes/no, one URL a line."""

from __future__ import annotations

import pytest

from domain.commands import COMMANDS, parse_command
from domain.rules import ACTIONS
from workbench.forms import form_for, payload_from_form, to_minor


def test_every_action_has_a_form_with_every_field_of_its_model() -> None:
    for action in ACTIONS:
        names = {f.name for f in form_for(action).fields}
        assert names == set(COMMANDS[action].model_fields) - {"action", "expected_version"}, action
    inspection = {f.name: f for f in form_for("record_inspection").fields}
    assert (inspection["passed"].kind, inspection["passed"].required) == ("bool", True)
    assert inspection["responsibility"].options == ["product_defect", "buyer_misuse", "transit_damage", "no_fault"]
    assert inspection["deduction"].kind == "money" and not inspection["deduction"].required


@pytest.mark.parametrize(("typed", "currency", "minor"), [
    ("199.00", "CNY", 19_900), ("199", "CNY", 19_900), ("1,299.5", "CNY", 129_950), ("¥0.01", "CNY", 1),
    ("500", "JPY", 500), ("1.005", "CNY", None), ("5.5", "JPY", None), ("twelve", "CNY", None), ("nan", "CNY", None),
])
def test_amounts_are_typed_in_major_units(typed: str, currency: str, minor: int | None) -> None:
    assert to_minor(typed, currency) == minor


def test_typed_values_become_the_commands_payload() -> None:
    payload, errors = payload_from_form(form_for("record_inspection"), {
        "passed": "false", "responsibility": "buyer_misuse", "deduction": "12.50", "note": " scratched ",
        "evidence": "https://img/1.jpg\n\n https://img/2.jpg "}, "CNY")
    assert errors == {}
    command = parse_command("record_inspection", {**payload, "expected_version": 4})
    assert command.model_dump(exclude={"action"}) == {
        "passed": False, "responsibility": "buyer_misuse", "deduction": 1250, "note": "scratched",
        "evidence": ["https://img/1.jpg", "https://img/2.jpg"], "expected_version": 4}


def test_what_cannot_be_read_is_named_by_field_and_empty_fields_are_left_out() -> None:
    payload, errors = payload_from_form(form_for("offer_partial_refund"), {"amount": "1.2.3", "note": ""}, "CNY")
    assert (payload, errors) == ({}, {"amount": "Enter an amount such as 199.00"})
    payload, errors = payload_from_form(form_for("record_inspection"), {"passed": "maybe"}, "CNY")
    assert errors == {"passed": "Choose yes or no"}
