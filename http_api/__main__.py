"""Serve the API with uvicorn: ``python -m http_api --host 127.0.0.1 --port 8000``.

Configuration comes from the environment (``TEMPORAL_ADDRESS``, ``AFTERSALES_TOKENS``, ...).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from http_api.app import create_app
from http_api.auth import TokensError


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m http_api", description="The after-sales HTTP API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        app = create_app()
    except (TokensError, ValueError, OSError) as err:
        sys.exit(f"http_api: {err}")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
