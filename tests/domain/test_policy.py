"""The policy: DOMAIN.md defaults, TOML files an operator writes, and a version that travels
with each case."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.durations import format_duration, parse_duration
from domain.policy import Policy, PolicyError, load_policy, parse_policy

# --------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("72h", timedelta(hours=72)),
        ("5d", timedelta(days=5)),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 5D ", timedelta(days=5)),
    ],
)
def test_parse_duration_reads_what_operators_write(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "5", "h", "5 d", "-5h", "1.5h", "5y"])
def test_parse_duration_refuses_what_is_not_a_duration(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0h", "0d0s"])
def test_parse_duration_refuses_a_zero_duration(text):
    with pytest.raises(ValueError, match="not a positive duration"):
        parse_duration(text)


def test_parse_duration_refuses_a_number_without_a_unit():
    with pytest.raises(ValueError, match="must be a string"):
        parse_duration(72)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=36), "1d12h"),
        (timedelta(hours=72), "3d"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=1, minutes=1), "1d1m"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration_writes_the_shortest_exact_spelling(delta, text):
    assert format_duration(delta) == text


@pytest.mark.parametrize("delta", [timedelta(hours=36), timedelta(days=15), timedelta(seconds=3_661)])
def test_format_then_parse_gives_the_same_duration(delta):
    assert parse_duration(format_duration(delta)) == delta


# --------------------------------------------------------------------------------------------
# Defaults are DOMAIN.md's table


def test_deadline_defaults_are_those_of_domain_md():
    d = Policy().deadlines
    assert d.merchant_decision_unshipped == timedelta(hours=72)
    assert d.merchant_decision_shipped == timedelta(days=5)
    assert d.buyer_return_shipment == timedelta(days=7)
    assert d.merchant_inspection == timedelta(days=10)
    assert d.buyer_answer_refusal == timedelta(days=5)
    assert d.buyer_answer_offer == timedelta(days=3)
    assert d.merchant_ship_exchange == timedelta(days=3)
    assert d.merchant_ship_repair == timedelta(days=15)
    assert d.buyer_confirm_receipt == timedelta(days=10)
    assert d.platform_decision == timedelta(hours=48)
    assert d.satisfaction_followup == timedelta(days=3)
    assert d.dispute_risk_after == timedelta(days=5)


def test_reminder_defaults_are_those_of_domain_md():
    r = Policy().reminders
    assert r.merchant == [timedelta(hours=24), timedelta(hours=2)]
    assert r.supervisor == [timedelta(hours=12)]
    assert r.buyer == [timedelta(hours=24)]


def test_eligibility_and_money_defaults_are_those_of_domain_md():
    policy = Policy()
    assert policy.eligibility.receipt_grace_working_days == 5
    assert policy.money.out_of_stock_compensation_bps == 0  # off unless the policy sets it


def test_an_empty_policy_file_gives_the_defaults(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("", encoding="utf-8")
    assert load_policy(path) == Policy()


def test_no_policy_file_gives_the_defaults():
    assert load_policy(None) == Policy()


# --------------------------------------------------------------------------------------------
# Loading TOML


def test_policy_file_sets_durations_and_amounts(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(
        """
        version = "2025-03"

        [deadlines]
        merchant_decision_unshipped = "48h"
        merchant_decision_shipped = "5d"
        platform_decision = "90s"
        merchant_ship_repair = "1d12h"

        [reminders]
        merchant = ["12h", "1h"]

        [money]
        out_of_stock_compensation_bps = 3000
        out_of_stock_compensation_cap = 50000
        """,
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.version == "2025-03"
    assert policy.deadlines.merchant_decision_unshipped == timedelta(hours=48)
    assert policy.deadlines.merchant_decision_shipped == timedelta(days=5)
    assert policy.deadlines.platform_decision == timedelta(seconds=90)
    assert policy.deadlines.merchant_ship_repair == timedelta(hours=36)
    assert policy.reminders.merchant == [timedelta(hours=12), timedelta(hours=1)]
    assert policy.money.out_of_stock_compensation_bps == 3_000
    # What the file leaves out keeps its default.
    assert policy.deadlines.buyer_return_shipment == timedelta(days=7)
    assert policy.reminders.buyer == [timedelta(hours=24)]


def test_missing_policy_file_is_a_policy_error_naming_the_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(PolicyError, match="nowhere.toml does not exist"):
        load_policy(path)


def test_policy_file_that_is_not_toml_is_a_policy_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[deadlines\nmerchant_decision_shipped = ", encoding="utf-8")
    with pytest.raises(PolicyError, match="broken.toml is not valid TOML"):
        load_policy(path)


def test_bad_duration_names_the_file_and_the_field(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[deadlines]\nmerchant_decision_shipped = "five days"\n', encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert str(path) in message
    assert "deadlines.merchant_decision_shipped" in message
    assert "'five days' is not a duration" in message


def test_duration_written_as_a_bare_number_names_the_field():
    with pytest.raises(PolicyError, match=r"deadlines\.platform_decision: .*must be a string"):
        parse_policy({"deadlines": {"platform_decision": 48}})


def test_bad_reminder_names_its_position():
    with pytest.raises(PolicyError, match=r"reminders\.merchant\.1: .*'x' is not a duration"):
        parse_policy({"reminders": {"merchant": ["24h", "x"]}})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"deadlines": {"merchant_decision_shiped": "5d"}}, "deadlines.merchant_decision_shiped"),
        ({"money": {"refund_cap": 1}}, "money.refund_cap"),
        ({"penalties": {}}, "penalties"),
    ],
)
def test_unknown_key_is_a_policy_error_naming_it(data, field):
    with pytest.raises(PolicyError, match=rf"{field}: Extra inputs are not permitted"):
        parse_policy(data, source="ops/policy.toml")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"money": {"return_shipping_cap": -1}}, "money.return_shipping_cap"),
        ({"money": {"staff_refund_limit": -100}}, "money.staff_refund_limit"),
        ({"money": {"out_of_stock_compensation_bps": -1}}, "money.out_of_stock_compensation_bps"),
        ({"eligibility": {"receipt_grace_working_days": -1}}, "eligibility.receipt_grace_working_days"),
        ({"deadlines": {"buyer_answer_offer": "-3d"}}, "deadlines.buyer_answer_offer"),
    ],
)
def test_negative_value_is_a_policy_error_naming_the_field(data, field):
    with pytest.raises(PolicyError, match=rf"^ops/policy\.toml: {field}: "):
        parse_policy(data, source="ops/policy.toml")


def test_compensation_rate_over_one_hundred_percent_is_refused():
    with pytest.raises(PolicyError, match="money.out_of_stock_compensation_bps"):
        parse_policy({"money": {"out_of_stock_compensation_bps": 10_001}})


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(PolicyError) as caught:
        parse_policy({"money": {"return_shipping_cap": -1}, "deadlines": {"platform_decision": "soon"}})
    assert "money.return_shipping_cap" in str(caught.value)
    assert "deadlines.platform_decision" in str(caught.value)


def test_policy_error_is_a_value_error():
    assert issubclass(PolicyError, ValueError)


# --------------------------------------------------------------------------------------------
# Version


def test_version_given_in_the_file_is_kept():
    assert parse_policy({"version": "2025-03-spring-festival"}).version == "2025-03-spring-festival"


def test_version_is_derived_from_the_content_when_not_given():
    assert Policy().version.startswith("sha-")
    assert Policy().version == Policy().version


def test_same_content_written_differently_gets_the_same_version():
    hours = parse_policy({"deadlines": {"merchant_decision_unshipped": "72h"}})
    days = parse_policy({"deadlines": {"merchant_decision_unshipped": "3d"}})
    assert hours.version == days.version == Policy().version


def test_different_content_gets_a_different_version():
    default = Policy()
    longer = parse_policy({"deadlines": {"merchant_decision_unshipped": "96h"}})
    richer = parse_policy({"money": {"return_shipping_cap": 2_001}})
    assert len({default.version, longer.version, richer.version}) == 3


def test_derived_version_does_not_depend_on_the_version_field_itself():
    named = parse_policy({"version": "v7", "money": {"return_shipping_cap": 900}})
    unnamed = parse_policy({"money": {"return_shipping_cap": 900}})
    assert named.version == "v7"
    assert unnamed.version.startswith("sha-")
    renamed = parse_policy({**named.model_dump(mode="json"), "version": ""})
    assert renamed.version == unnamed.version


# --------------------------------------------------------------------------------------------
# A policy travels with the case as JSON


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": "v2", "deadlines": {"merchant_ship_repair": "1d12h"}, "reminders": {"buyer": ["6h", "90s"]}},
        {"money": {"out_of_stock_compensation_bps": 3_000}, "eligibility": {"receipt_grace_working_days": 3}},
    ],
)
def test_json_round_trip_keeps_the_policy_and_its_version(data):
    policy = parse_policy(data)
    again = Policy.model_validate_json(policy.model_dump_json())
    assert again == policy
    assert again.version == policy.version


def test_durations_are_written_to_json_the_way_operators_write_them():
    dumped = parse_policy({"deadlines": {"merchant_ship_repair": "36h"}}).model_dump(mode="json")
    assert dumped["deadlines"]["merchant_ship_repair"] == "1d12h"
    assert dumped["deadlines"]["platform_decision"] == "2d"
    assert dumped["reminders"]["merchant"] == ["1d", "2h"]


def test_policy_is_frozen():
    policy = Policy()
    with pytest.raises(ValueError):
        policy.money = policy.money  # type: ignore[misc]


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(hours=-1)])
def test_zero_or_negative_duration_given_as_a_timedelta_is_refused_too(delta):
    # Otherwise it would validate here, be written to JSON as "0s", and fail to load in the worker.
    with pytest.raises(PolicyError, match=r"deadlines\.platform_decision: .*not a positive duration"):
        parse_policy({"deadlines": {"platform_decision": delta}})


def test_policy_built_in_code_from_timedeltas_survives_the_json_round_trip():
    policy = parse_policy({"deadlines": {"platform_decision": timedelta(hours=36)}})
    assert Policy.model_validate_json(policy.model_dump_json()) == policy


# --------------------------------------------------------------------------------------------
# Sub-second durations (a compressed policy must be able to express every default exactly)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("1s500ms", timedelta(milliseconds=1500)),
        ("1500ms", timedelta(milliseconds=1500)),
        ("1m30s250ms", timedelta(minutes=1, seconds=30, milliseconds=250)),
        (" 250MS ", timedelta(milliseconds=250)),
    ],
)
def test_parse_duration_reads_milliseconds(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(milliseconds=1500), "1s500ms"),
        (timedelta(hours=1, milliseconds=1), "1h1ms"),
    ],
)
def test_format_duration_writes_milliseconds_and_reads_them_back(delta, text):
    assert format_duration(delta) == text
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["0.5s", "1.5h", "500 ms", "5us", "ms", "500msx"])
def test_parse_duration_refuses_bad_sub_second_durations_and_says_how_to_write_them(text):
    with pytest.raises(ValueError, match="not a duration: write whole numbers with a unit \\(ms, s, m, h, d, w\\)"):
        parse_duration(text)


def test_a_fraction_is_refused_with_a_hint_to_use_a_smaller_unit():
    with pytest.raises(ValueError, match="'1500ms', not '1.5s'"):
        parse_duration("0.5s")


def test_zero_milliseconds_is_not_a_positive_duration():
    with pytest.raises(ValueError, match="not a positive duration"):
        parse_duration("0ms")


def test_a_policy_of_milliseconds_loads_and_survives_the_json_round_trip(tmp_path):
    path = tmp_path / "fast.toml"
    path.write_text('[deadlines]\nmerchant_decision_unshipped = "500ms"\n[reminders]\nmerchant = ["250ms"]\n')
    policy = load_policy(path)
    assert policy.deadlines.merchant_decision_unshipped == timedelta(milliseconds=500)
    assert policy.reminders.merchant == [timedelta(milliseconds=250)]
    assert policy.model_dump(mode="json")["deadlines"]["merchant_decision_unshipped"] == "500ms"
    assert Policy.model_validate_json(policy.model_dump_json()) == policy


def test_a_bad_sub_second_duration_in_a_policy_names_the_field(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[deadlines]\nplatform_decision = "0.5s"\n')
    with pytest.raises(PolicyError, match=r"deadlines\.platform_decision: .*'0\.5s' is not a duration"):
        load_policy(path)


def test_a_timedelta_below_a_millisecond_is_refused_instead_of_silently_rounded():
    # Before: 1.5 ms validated, was written to JSON as "1ms" (or "0s") and changed on the way to the worker.
    with pytest.raises(PolicyError, match=r"deadlines\.platform_decision: .*whole number of milliseconds"):
        parse_policy({"deadlines": {"platform_decision": timedelta(microseconds=1500)}})
