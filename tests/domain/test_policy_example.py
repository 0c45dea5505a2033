"""The policy file the README points operators to must load and state the real defaults."""

from pathlib import Path

from domain.policy import Policy, load_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "policy.example.toml"


def test_example_policy_loads_and_equals_the_defaults():
    example = load_policy(EXAMPLE)
    assert example.version == "2026-11-default"
    assert example.model_dump(exclude={"version"}) == Policy().model_dump(exclude={"version"})
