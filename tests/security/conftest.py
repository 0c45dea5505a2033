"""The security tests run against the same served stack as ``tests/api``: a real Temporal dev
server, a worker with the in-memory providers and the app under uvicorn (see
``tests/api/conftest.py``; its fixtures are reused here, not copied)."""

from tests.api.conftest import api, dev_server, tokens_file  # noqa: F401 - pytest fixtures
