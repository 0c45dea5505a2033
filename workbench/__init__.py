"""The staff workbench: a web console served by the API process (``/workbench``).

Server-rendered pages (Jinja2) with a few lines of our own JavaScript for live countdowns; every
asset is served from ``workbench/static``. Sign-in with an API token, the per-role queues from
the ``cases`` read model (``casefeed.queue``), a case page with the actions this principal may
take now, in zh-CN and en. See docs/workbench.md.
"""

from __future__ import annotations

import hashlib

from fastapi import FastAPI

from http_api.context import ApiState


def session_key(api: ApiState) -> bytes:
    """The key that signs session cookies, alike on every replica (as the list's page tokens)."""
    if len(api.tokens) > 0:
        return api.tokens.derived_key("workbench sessions")
    if api.settings.page_token_key is not None:
        secret = api.settings.page_token_key.get_secret_value().encode()
        return hashlib.sha256(b"aftersales workbench sessions " + secret).digest()
    raise ValueError("the workbench needs a tokens file or AFTERSALES_PAGE_TOKEN_KEY to sign its sessions")


def install(app: FastAPI) -> None:
    """Mount the workbench on the API app (after ``app.state.api`` is set)."""
    from workbench.routes import install as mount

    api: ApiState = app.state.api
    mount(app, session_key(api), api.settings.events_dsn)
