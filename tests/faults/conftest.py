"""Fault-injection tests: the real processes under payment faults and kills."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: runs the fault-injection harness against a private stack")
