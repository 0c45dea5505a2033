"""The ``aftersales`` command: talk to the API, or run a part of the system.

    aftersales open request.json            aftersales show CASE_ID
    aftersales list --state awaiting_merchant_decision --shop shop-1 --type return_refund
    aftersales --as alice approve CASE_ID --amount 1999 --note "goodwill"
    aftersales dev [--demo]                 aftersales worker | api | sandbox | demo
    curl -H "Authorization: Bearer $(aftersales token alice)" ...

Global options (before or after the subcommand): ``--api-url`` ($AFTERSALES_API_URL),
``--token`` ($AFTERSALES_TOKEN) or ``--as NAME`` (a principal id from the tokens file, e.g. the
dev stack's ``.data/tokens.json``), ``--json`` for machine output.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from aftersales_client import DEFAULT_API_URL, AfterSalesClient, ApiError
from cli import render
from cli.actions import add_action_commands, payload_from
from domain.models import CaseState, CaseType, WaitingOn

DEFAULT_TOKENS_FILE = ".data/tokens.json"

#: The API's list filters (``GET /v1/cases`` query parameters), each set by an option of ``list``.
LIST_FILTERS = (
    "state",
    "type",
    "shop_id",
    "buyer_id",
    "order_id",
    "tracking_number",
    "waiting_on",
    "deadline_before",
    "dispute_risk",
    "updated_after",
)

#: Exit codes: 1 the API refused, 2 bad usage (argparse), 3 the API could not be reached.
EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3


class UsageError(Exception):
    """A problem with what the user typed or pointed at (not the API's answer)."""


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every subcommand understands; ``suppress`` for the copies after the subcommand."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    api_url = os.environ.get("AFTERSALES_API_URL", DEFAULT_API_URL)
    tokens_file = os.environ.get("AFTERSALES_TOKENS", DEFAULT_TOKENS_FILE)
    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--api-url", default=default(api_url), help=f"the API's base URL (env AFTERSALES_API_URL; now {api_url})"
    )
    group.add_argument(
        "--token", default=default(os.environ.get("AFTERSALES_TOKEN")), help="Bearer token (env AFTERSALES_TOKEN)"
    )
    group.add_argument(
        "--as",
        dest="as_principal",
        metavar="NAME",
        default=default(None),
        help="use the token of this principal id from the tokens file (e.g. alice, buyer-1)",
    )
    group.add_argument(
        "--tokens-file",
        default=default(tokens_file),
        help=f"tokens file for --as (env AFTERSALES_TOKENS; now {tokens_file})",
    )
    group.add_argument("--json", action="store_true", default=default(False), help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aftersales",
        description="After-sales cases (refund, return, exchange, repair) on Temporal.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Start everything locally with `aftersales dev`, then e.g. `aftersales --as alice list`.",
        # Whole option names only: with prefixes, `report --to DATE` is "ambiguous" (--token,
        # --tokens-file) before the subcommand's parser even sees it.
        allow_abbrev=False,
    )
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("open", parents=[common], help="open a case from a JSON case request")
    p.add_argument("file", metavar="FILE.json", help="the case request; - reads stdin")

    p = sub.add_parser("show", parents=[common], help="a case: state, deadline, refund, timeline, next actions")
    p.add_argument("case_id", metavar="CASE_ID", help=CASE_ID_HELP)
    p.add_argument("--no-timeline", dest="timeline", action="store_false", help="leave the timeline out")

    p = sub.add_parser(
        "list", parents=[common], help="cases matching filters (staff, platform, operator; a buyer: their own)"
    )
    p.add_argument(
        "--state", action="append", choices=[s.value for s in CaseState], help="one state (repeat for several)"
    )
    p.add_argument("--type", choices=[t.value for t in CaseType])
    p.add_argument("--shop", dest="shop_id", metavar="SHOP_ID")
    p.add_argument("--buyer", dest="buyer_id", metavar="BUYER_ID")
    p.add_argument("--order", dest="order_id", metavar="ORDER_ID")
    p.add_argument("--tracking-number", metavar="NUMBER", help="a return or outbound parcel's tracking number")
    p.add_argument("--waiting-on", choices=[w.value for w in WaitingOn])
    p.add_argument("--deadline-before", metavar="TIME", help="RFC 3339 time, or a duration from now such as 2h or 1d")
    p.add_argument(
        "--updated-after",
        metavar="TIME",
        help="only cases changed since: RFC 3339 time, or a duration ago such as 2h (from the event store, no lag)",
    )
    p.add_argument(
        "--dispute-risk",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only cases flagged dispute risk (--no-dispute-risk: only those not flagged)",
    )

    p = sub.add_parser(
        "token", parents=[common], help="print the token of a principal in the tokens file (for curl and scripts)"
    )
    p.add_argument("name", metavar="NAME", help="a principal id (alice, buyer-1, ...) or a role")

    add_action_commands(sub, common)
    from cli.report import add_report_command

    add_report_command(sub, common)

    sub.add_parser("worker", help="run the Temporal worker (reads TEMPORAL_ADDRESS, PAYMENT_URL, ...)")
    p = sub.add_parser("api", help="run the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p = sub.add_parser("sandbox", help="run the provider sandbox (options as `python -m sandbox`)")
    p.add_argument("sandbox_args", nargs=argparse.REMAINDER, help="passed on to the sandbox")

    from cli import dev  # the process commands' options live with their code

    dev.add_dev_command(sub)
    dev.add_demo_command(sub, common)
    return parser


# ------------------------------------------------------------------------------------------
# Talking to the API


def resolve_token(args: argparse.Namespace) -> str | None:
    """``--as NAME`` looks the token up in the tokens file; otherwise ``--token``."""
    name = getattr(args, "as_principal", None)
    if not name:
        return args.token
    path = Path(args.tokens_file)
    try:
        tokens = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"--as {name}: tokens file {path} does not exist (start `aftersales dev` or pass --tokens-file)"
        ) from None
    except ValueError as err:
        raise UsageError(f"--as {name}: tokens file {path} is not JSON: {err}") from None
    for token, principal in tokens.items():
        if name in (principal.get("id"), f"{principal.get('id')}@{principal.get('shop_id')}", principal.get("role")):
            return str(token)
    known = ", ".join(sorted({str(p.get("id")) for p in tokens.values()}))
    raise UsageError(f"--as {name}: no such principal in {path}; known: {known}")


def _deadline_before(text: str | None, *, option: str = "--deadline-before", sign: int = 1) -> str | None:
    """An RFC 3339 time, or a duration from now (``sign`` -1: ago)."""
    if not text:
        return None
    from domain.durations import parse_duration

    try:
        return (datetime.now(UTC) + sign * parse_duration(text)).isoformat()
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text!r}: give an RFC 3339 time or a duration such as 2h") from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def _read_request(file: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot read {file}: {err.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise UsageError(f"{file} is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{file}: a case request is a JSON object")
    return data


CASE_ID_HELP = "SHOP_ID:CASE_ID (e.g. shop-1:c-1); staff and supervisors may give the case id alone"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def run_api_command(args: argparse.Namespace, transport: httpx.BaseTransport | None = None) -> int:
    """open/show/list and the actions."""
    with AfterSalesClient(args.api_url, resolve_token(args), transport=transport) as api:
        if args.command == "open":
            request = _read_request(args.file)
            result = api.open_case(request)
            view = result if "state" in result else api.get_case(f"{request['order']['shop_id']}:{result['case_id']}")
            if args.json:
                _print_json(result if "state" in result else {**result, "case": view})
            else:
                verb = "opened" if result.get("created", True) else "already open (identical request)"
                print(f"{verb}: {result.get('case_id', view.get('case_id'))}")
                print(render.case_summary(view))
        elif args.command == "show":
            view = api.get_case(args.case_id)
            if args.json:
                _print_json(view)
            else:
                print(render.case_summary(view, timeline=args.timeline))
        elif args.command == "list":
            filters = {name: getattr(args, name) for name in LIST_FILTERS}
            filters["deadline_before"] = _deadline_before(args.deadline_before)
            filters["updated_after"] = _deadline_before(args.updated_after, option="--updated-after", sign=-1)
            views = api.list_cases(**filters)
            if args.json:
                _print_json(views)
            else:
                print(render.case_table(views) if views else "no cases match")
        else:  # an action
            view = api.act(args.case_id, args.action, expected_version=args.expected_version, **payload_from(args))
            if args.json:
                _print_json(view)
            else:
                print(
                    f"{render.command_name(args.action)}: done, case {view.get('case_id')} is now "
                    f"{view.get('state')} (version {view.get('version')})"
                )
                print(render.case_summary(view, timeline=False))
    return 0


def _report_api_error(err: ApiError, args: argparse.Namespace) -> None:
    if getattr(args, "json", False):
        _print_json({"error": {"status": err.status, "detail": err.detail, "body": err.body}})
    print(f"aftersales: error {err.status}: {err.detail}", file=sys.stderr)
    info = err.info
    errors = info.get("errors")
    if isinstance(errors, list) and len(errors) > 1:
        for item in errors:
            if isinstance(item, dict):
                print(f"  {item.get('field')}: {item.get('message')}", file=sys.stderr)
    allowed = info.get("allowed_actions")
    if allowed and "possible now" not in err.detail.lower():
        print(f"  possible now: {', '.join(render.command_name(a) for a in allowed)}", file=sys.stderr)
    if err.status == 401:
        print(
            "  hint: pass --token, set AFTERSALES_TOKEN, or use --as NAME with the dev stack's tokens file",
            file=sys.stderr,
        )


# ------------------------------------------------------------------------------------------
# Entry point


#: Exit code when the reader of our output went away (``aftersales list | head``): 128 + SIGPIPE, as a
#: command killed by the signal would report it.
EXIT_PIPE_CLOSED = 141


def main(argv: Sequence[str] | None = None, *, transport: httpx.BaseTransport | None = None) -> int:
    """Run the command; returns the exit code (``transport`` lets tests stand in for the API)."""
    try:
        return _main(argv, transport)
    except BrokenPipeError:
        # The reader closed the pipe: stop quietly, with no traceback. Point stdout at /dev/null so the
        # interpreter's final flush does not fail again on the closed pipe.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            pass
        return EXIT_PIPE_CLOSED


def _main(argv: Sequence[str] | None, transport: httpx.BaseTransport | None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "sandbox":
        args.sandbox_args = unknown + args.sandbox_args  # every sandbox option is the sandbox's own
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        if args.command == "token":
            args.as_principal = args.name
            print(resolve_token(args))
            return 0
        if args.command in ("worker", "api", "sandbox", "dev", "demo"):
            from cli import dev

            return dev.run_process_command(args)
        if args.command == "report":
            from cli.report import run_report

            print(run_report(args, resolve_token(args), transport))
            return 0
        return run_api_command(args, transport)
    except ApiError as err:
        _report_api_error(err, args)
        return EXIT_REFUSED
    except httpx.TransportError as err:
        try:
            where = f"{err.request.url.scheme}://{err.request.url.netloc.decode()}"
        except RuntimeError:  # no request attached
            where = args.api_url
        print(
            f"aftersales: cannot reach {where}: {err or type(err).__name__}. Is it running (`aftersales dev`)?",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    except UsageError as err:
        print(f"aftersales: {err}", file=sys.stderr)
        return EXIT_USAGE
