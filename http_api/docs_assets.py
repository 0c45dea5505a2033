"""``/docs`` (Swagger UI) and ``/redoc`` with every file served by the API itself, so they work on a
machine without internet (FastAPI's defaults load them from a CDN, which is also unreliable from
mainland China).

The files come from the ``fastapi-offline`` package (its ``static`` folder: Swagger UI's bundle and
CSS, ReDoc's standalone bundle, a favicon), served under ``/docs-assets``; the pages are FastAPI's
own (``get_swagger_ui_html``, ``get_redoc_html``) pointed at them, without Google Fonts and
without Swagger's online validator. Upgrading the UIs is a version bump of that package.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
#: Both pages may load nothing from another host. ReDoc's bundle still names one image on
#: cdn.redoc.ly (its "Redocly" logo); this keeps the browser from asking for it (the inline
#: scripts FastAPI's pages start the UIs with stay allowed).
OFFLINE_ONLY = {"Content-Security-Policy": "default-src 'self' blob: 'unsafe-inline'; img-src 'self' data:; "
                                           "frame-ancestors 'none'"}
ASSETS_DIR = Path(str(files("fastapi_offline").joinpath("static")))


def install(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the documentation pages and their files from ``app`` (create it with
    ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not there too)."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or f"{docs_url}/oauth2-redirect"
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")  # behind a proxy that serves the API under a prefix
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            # no badge that sends the schema to validator.swagger.io
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )
        page.headers.update(OFFLINE_ONLY)
        return page

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        page.headers.update(OFFLINE_ONLY)
        return page
