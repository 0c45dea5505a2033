"""Request bodies: a size limit for every request and JSON for every body we read.

The limit is enforced twice: a declared ``Content-Length`` over it is refused before anything
is read, and a body without one (chunked) is counted as it arrives.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from http_api.problems import ApiError, invalid

DEFAULT_MAX_BODY_BYTES = 256 * 1024


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than {limit} bytes", limit=limit)


class BodyLimitMiddleware:
    """Answer ``413`` for a body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await JSONResponse({"detail": "Content-Length is not a number"}, status_code=400)(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await BodyTooLarge(self.max_bytes).response()(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as err:  # read outside a route (the route's handler answers otherwise)
            if started:
                raise
            await err.response()(scope, receive, send)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json(request: Request, *, required: bool) -> Any:
    """The parsed JSON body. ``415`` unless it is JSON; ``422`` if it does not parse.

    An empty body is ``{}`` when not ``required`` (actions without a payload need none).
    """
    raw = await request.body()
    if not raw.strip() and not required:
        return {}
    if not _is_json(request.headers.get("content-type")):
        raise ApiError(415, "send the body as JSON with Content-Type: application/json")
    if not raw.strip():
        raise invalid([{"field": "body", "message": "a JSON body is required"}])
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise invalid([{"field": "body", "message": f"not valid JSON: {str(err)[:200]}"}]) from None


async def read_object(request: Request, *, required: bool) -> dict[str, Any]:
    body = await read_json(request, required=required)
    if not isinstance(body, dict):
        raise invalid([{"field": "body", "message": "must be a JSON object"}])
    return body
