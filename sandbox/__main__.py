"""Run the provider sandbox with uvicorn.

    python -m sandbox --host 127.0.0.1 --port 8700 \\
        --webhook-url http://127.0.0.1:8000/v1/courier/events --webhook-secret dev-courier-secret \\
        [--state-file .sandbox/state.db] [--auto-advance-seconds 20] [--fail-rate 0.2 --seed 7 ...]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import uvicorn

from sandbox.app import DEFAULT_WEBHOOK_SECRET, create_app
from sandbox.models import DropMode, PaymentFaults


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Stand-in payment provider, courier and notification channel."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--webhook-url", help="where courier events are pushed (the API's /v1/courier/events)")
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("COURIER_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
        help="HMAC key for X-Signature, signed with X-Signature-Timestamp (default: $COURIER_WEBHOOK_SECRET or the dev secret)",
    )
    parser.add_argument("--state-file", help="keep payouts, messages, parcels and received events in this SQLite database (created if missing)")
    parser.add_argument("--auto-advance-seconds", type=float, help="parcels move one step every N seconds")
    faults = parser.add_argument_group("payment faults (also settable at run time: POST /payments/faults)")
    faults.add_argument("--seed", type=int, default=0)
    faults.add_argument("--fail-rate", type=float, default=0.0)
    faults.add_argument("--fail-status", type=int, default=500)
    faults.add_argument("--slow-rate", type=float, default=0.0)
    faults.add_argument("--slow-seconds", type=float, default=0.0)
    faults.add_argument("--drop-after-record-rate", type=float, default=0.0)
    faults.add_argument("--drop-mode", choices=[m.value for m in DropMode], default=DropMode.ERROR.value)
    faults.add_argument("--refuse-case-id", action="append", default=[], dest="refuse_case_ids")
    faults.add_argument("--refuse-account", action="append", default=[], dest="refuse_accounts")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    faults = PaymentFaults(
        seed=args.seed,
        fail_rate=args.fail_rate,
        fail_status=args.fail_status,
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        drop_after_record_rate=args.drop_after_record_rate,
        drop_mode=DropMode(args.drop_mode),
        refuse_case_ids=args.refuse_case_ids,
        refuse_accounts=args.refuse_accounts,
    )
    app = create_app(
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        state_file=args.state_file,
        faults=faults,
        auto_advance_seconds=args.auto_advance_seconds,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
