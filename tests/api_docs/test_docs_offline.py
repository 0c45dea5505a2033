"""``/docs`` and ``/redoc`` work without internet: their pages name no other host, and every file
they reference (scripts, styles, icon, the OpenAPI schema) is served by the API itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from domain.models import Principal, Role
from http_api import create_app
from runtime.settings import Settings
from sandbox.app import create_app as sandbox_app

#: Anything a page loads: src/href attributes, Swagger's schema ``url:`` and redirect, ReDoc's ``spec-url``.
REFERENCES = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url:\s*'([^']+)'|window\.location\.origin \+ '([^']+)'""")
EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


@pytest.fixture(params=["api", "sandbox"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    # No Temporal needed: the pages and files are static; ASGITransport runs no lifespan. The
    # sandbox's own /docs is offline too (a developer reads it on the same machine).
    if request.param == "api":
        app = create_app(Settings(), tokens={"t": Principal(role=Role.OPERATOR, id="oncall")})
    else:
        app = sandbox_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
        yield client


def references(html: str) -> list[str]:
    return [next(group for group in match.groups() if group) for match in REFERENCES.finditer(html)]


@pytest.mark.parametrize(("page", "must_load"), [
    ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png", "openapi.json", "oauth2-redirect"}),
    ("/redoc", {"redoc.standalone.js", "favicon.png", "openapi.json"}),
])
async def test_docs_page_names_no_other_host_and_every_file_it_loads_is_served(api, page: str, must_load: set[str]):
    answer = await api.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), "the page names another host"
    assert "fonts.googleapis" not in html and "cdn.jsdelivr" not in html

    loaded = references(html)
    assert {ref.rsplit("/", 1)[-1] for ref in loaded} >= must_load
    for ref in loaded:
        assert ref.startswith("/"), f"{ref} is not served by the API"
        served = await api.get(ref)
        assert served.status_code == 200, ref
        assert served.content, ref
        for suffix, kind in EXPECTED_TYPES.items():
            if ref.endswith(suffix):
                assert kind in served.headers["content-type"], (ref, served.headers["content-type"])


async def test_swagger_ui_is_configured_without_the_online_validator(api):
    html = (await api.get("/docs")).text
    assert '"validatorUrl": null' in html


async def test_the_docs_pages_are_not_api_operations(api):
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]


async def test_behind_a_path_prefix_the_pages_load_from_under_it():
    app = create_app(Settings(), tokens={"t": Principal(role=Role.OPERATOR, id="oncall")})
    transport = httpx.ASGITransport(app=app, root_path="/aftersales")
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        html = (await client.get("/docs")).text
    assert all(ref.startswith("/aftersales/") for ref in references(html)), references(html)
