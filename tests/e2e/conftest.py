"""End-to-end tests: the real processes, started the way a user starts them."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: starts the real dev stack (Temporal dev server, sandbox, worker, API)")
