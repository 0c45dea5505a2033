"""The policy file the README points operators to must load and state the real defaults."""

from datetime import timedelta
from pathlib import Path

from domain.policy import Policy, load_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "policy.example.toml"


def test_example_policy_loads_and_equals_the_defaults():
    example = load_policy(EXAMPLE)
    assert example.version == "2026-11-default"
    assert example.model_dump(exclude={"version"}) == Policy().model_dump(exclude={"version"})


def test_the_walkthrough_policy_loads_and_gives_a_person_time_to_act():
    # README, "Ten-minute walk-through": every wait at least 30 minutes, reminders before it.
    policy = load_policy(EXAMPLE.parent / "examples" / "walkthrough-policy.toml")
    assert policy.version == "walkthrough-1"
    waits = {name: getattr(policy.deadlines, name) for name in type(policy.deadlines).model_fields}
    assert min(waits.values()) >= timedelta(minutes=30), waits
