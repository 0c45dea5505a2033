#!/usr/bin/env bash
# Set everything up and run the checks and the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The compose CLI validates docker-compose.yml (tests/operations/test_deploy.py); Debian's package
# needs no Docker daemon for that. Installed only where apt-get can (root, as in CI).
if ! command -v docker-compose >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose) >/dev/null \
    || echo "scripts/test.sh: could not install docker-compose; the compose test will say so" >&2
fi
.venv/bin/ruff check .
.venv/bin/mypy domain workflows activities runtime worker.py http_api sandbox cli aftersales_client demo faults bench
.venv/bin/python -m pytest -q "$@"
