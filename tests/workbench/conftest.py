"""The workbench's tests: catalogs, queues, pages, and the browser tests on a real stack."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: starts the real dev stack (Temporal dev server, sandbox, worker, API)")
