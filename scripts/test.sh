#!/usr/bin/env bash
# Set everything up and run the checks and the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/mypy domain workflows activities runtime worker.py http_api sandbox cli aftersales_client demo faults bench casefeed
.venv/bin/python -m pytest -q "$@"
