#!/usr/bin/env bash
# Set everything up and run the checks and the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# tests/operations/test_deploy.py validates docker-compose.yml with the compose CLI (Debian's
# docker-compose needs no Docker daemon for that) and the alert rules and dashboard queries with
# promtool (Debian's prometheus package; its service is not started here). Installed only where
# apt-get can (root, as in CI).
if { ! command -v docker-compose >/dev/null || ! command -v promtool >/dev/null; } \
    && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose prometheus) >/dev/null \
    || echo "scripts/test.sh: could not install docker-compose and prometheus; the deploy tests will say so" >&2
fi
# The workbench's browser tests (tests/workbench/test_browser.py) drive Debian's chromium through
# Playwright (never a downloaded browser); a CJK font makes its zh-CN pages and screenshots legible.
if { ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk"; } \
    && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei) >/dev/null \
    || echo "scripts/test.sh: could not install chromium; the workbench's browser tests will be skipped" >&2
fi
.venv/bin/ruff check .
.venv/bin/mypy domain workflows activities runtime worker.py http_api sandbox cli aftersales_client demo faults bench casefeed i18n notices reports workbench
# AFTERSALES_TEST_WORKERS=2 runs pytest on two pytest-xdist workers, whole modules each (module- and
# session-scoped servers start once per worker; tests/conftest.py hands out the longest modules
# first): about 7.5 min instead of 11 on a loaded 2-core machine. Off (0) by default: under that
# load, 2 of 4 such runs failed on timing-sensitive tests that the serial order rarely trips.
.venv/bin/python -m pytest -q -n "${AFTERSALES_TEST_WORKERS:-0}" --dist loadfile --no-loadscope-reorder "$@"
