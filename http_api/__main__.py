"""Serve the API with uvicorn: ``python -m http_api --host 127.0.0.1 --port 8000``.

Configuration comes from the environment (``TEMPORAL_ADDRESS``, ``AFTERSALES_TOKENS``, ...). Logs
are text or JSON (``AFTERSALES_JSON_LOGS``); the access log is the API's own (one line per
request with the route, status, time, request id and case id), not uvicorn's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from http_api.app import create_app
from http_api.auth import TokensError, write_starter_tokens
from runtime.logs import configure_logging
from runtime.settings import Settings
from runtime.telemetry import setup_tracing


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m http_api", description="The after-sales HTTP API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default=None, help="default: AFTERSALES_LOG_LEVEL (info)")
    parser.add_argument(
        "--init-tokens",
        metavar="PATH",
        help="create a starter tokens file at PATH (a system and an operator token) unless one exists, and exit",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.init_tokens:
        written = write_starter_tokens(args.init_tokens)
        print(f"http_api: {'wrote a starter tokens file' if written else 'keeping the tokens file'} at {args.init_tokens}")
        return
    try:
        settings = Settings()
        if args.log_level:
            settings = settings.model_copy(update={"log_level": args.log_level.upper()})
        configure_logging(settings)
        setup_tracing(settings, "aftersales-api")
        app = create_app(settings)
    except (TokensError, ValueError, OSError) as err:
        sys.exit(f"http_api: {err}")
    # log_config=None: uvicorn keeps the logging configured above (text or JSON) instead of its own.
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False,
                log_level=settings.log_level.lower())


if __name__ == "__main__":
    main()
