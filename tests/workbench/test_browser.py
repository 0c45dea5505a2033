"""The workbench in a real browser (Debian's chromium, driven by Playwright) against the real dev
stack (Temporal dev server, sandbox, worker, API on free ports), one stack for the whole module.

Writes the screenshots in docs/screenshots/ (the queue and a case page, en and zh-CN).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.dev import DevStack, start_on_free_ports
from tests.support.factory import request as case_request

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Where the screenshots go: docs/screenshots (the README's) when AFTERSALES_SCREENSHOTS=docs, else a
#: temporary folder, so an ordinary test run leaves the checkout as it was.
SCREENSHOTS = (Path(__file__).resolve().parents[2] / "docs" / "screenshots"
               if os.environ.get("AFTERSALES_SCREENSHOTS") == "docs"
               else Path(tempfile.gettempdir()) / "aftersales-screenshots")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (apt-get install chromium; "
                       "scripts/test.sh installs it in CI)"),
]

POLICY = """\
version = "workbench-e2e"

[deadlines]
merchant_decision_unshipped = "3h"
merchant_decision_shipped = "3d"

[money]
staff_refund_limit = 15000
"""


class Stack:
    def __init__(self, dev: DevStack) -> None:
        self.dev = dev
        self.url = dev.api_url
        tokens: dict[str, dict[str, str]] = json.loads(dev.tokens_path.read_text())
        self.tokens = {p["id"]: t for t, p in tokens.items()}
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kwargs)

    def open_case(self, case_id: str, *, shop: str = "shop-1", **kwargs: Any) -> dict[str, Any]:
        body = case_request(datetime.now(UTC), case_id, **kwargs).model_dump(mode="json", exclude_none=True)
        body["order"]["shop_id"] = shop
        answer = self.call("shop-backend", "POST", "/v1/cases", json=body)
        assert answer.status_code == 201, answer.text
        view: dict[str, Any] = answer.json()
        return view

    def case(self, who: str, ref: str) -> dict[str, Any]:
        answer = self.call(who, "GET", f"/v1/cases/{ref}")
        assert answer.status_code == 200, answer.text
        view: dict[str, Any] = answer.json()
        return view


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("workbench-stack")
    policy = folder / "policy.toml"
    policy.write_text(POLICY)
    attempts: list[int] = []

    def make(ports: list[int]) -> DevStack:
        temporal, ui, api, sandbox = ports
        attempts.append(len(attempts) + 1)
        # Its own event store: the test session's (tests/conftest.py) holds other tests' cases of shop-1.
        return DevStack(data_dir=folder / f"data-{attempts[-1]}", policy=policy, temporal_port=temporal, ui_port=ui,
                        api_port=api, sandbox_port=sandbox, say=lambda _: None,
                        extra_env={"AFTERSALES_EVENTS_DSN": f"sqlite:///{folder / f'events-{attempts[-1]}.sqlite3'}"})

    dev = start_on_free_ports(make)
    try:
        s = Stack(dev)
        # Shipped orders: the merchant has 3 days; unshipped: 3 hours (so these come first).
        s.open_case("far-1", type="return_refund", reason="quality_issue")
        s.open_case("far-2", type="refund_only", reason="quality_issue")
        s.open_case("near", type="refund_only", reason="out_of_stock", order_kwargs={"shipped": False})  # 100.00
        s.open_case("big", type="refund_only", reason="out_of_stock", quantity=2,
                    order_kwargs={"shipped": False})  # 200.00 + 10.00 shipping: over the staff limit of 150.00
        s.open_case("stale", type="return_refund", reason="wrong_item")
        s.open_case("other", shop="shop-2", type="refund_only", reason="quality_issue")
        yield s
        s.http.close()
    finally:
        dev.stop()


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    """After the stack: Playwright's sync API runs an event loop in this thread, and the stack's
    start-up uses ``asyncio.run``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def signed_in(browser: Any, stack: Stack, who: str, locale: str = "en-US", time_zone: str = "UTC") -> Any:
    context = browser.new_context(locale=locale, timezone_id=time_zone, viewport={"width": 1280, "height": 900},
                                  extra_http_headers={"Accept-Language": locale})
    page = context.new_page()
    page.goto(f"{stack.url}/workbench/sign-in")
    page.fill("#token", stack.tokens[who])
    page.press("#token", "Enter")  # the keyboard is enough
    page.wait_for_url(re.compile(r".*/workbench/queue.*"))
    return page


def queue_cases(page: Any) -> list[str]:
    return [str(c) for c in page.eval_on_selector_all("table.queue tbody tr[data-case]",
                                                       "rows => rows.map(r => r.dataset.case)")]


def open_form(page: Any, case_id: str, action: str) -> None:
    """Unfold the action's form (each is a <details>; the first one is open)."""
    details = page.locator(f"details:has(form[action$='/{case_id}/{action}'])")
    if details.get_attribute("open") is None:
        details.locator("summary").click()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_staff_finds_the_nearest_deadline_on_top_approves_it_and_sees_it_move(browser: Any, stack: Stack) -> None:
    page = signed_in(browser, stack, "alice")
    assert queue_cases(page)[:2] == ["near", "big"]
    assert set(queue_cases(page)) == {"near", "big", "far-1", "far-2", "stale"}  # not shop-2's "other"
    top = page.locator("tr[data-case=near]")
    assert "Due soon" in top.inner_text()
    assert re.search(r"auto-refund CN¥100\.00 in 2 hr \d+ min", top.inner_text()), top.inner_text()
    shot(page, "queue-en.png")

    page.click("tr[data-case=near] a")
    assert page.locator("h1").inner_text().startswith("Case near")
    assert "Awaiting merchant decision" in page.locator("h1").inner_text()
    assert "CN¥100.00" in page.locator("section[aria-labelledby=h-money]").inner_text()
    shot(page, "case-en.png")
    page.click("form[action$='/near/approve'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/cases/near\?done=approve"))
    assert "Done: Approve." in page.locator(".banner").inner_text()
    assert re.search(r"Refunding|Refunded", page.locator("h1").inner_text())

    for _ in range(40):  # the read model follows the workflow task that approved it
        page.goto(f"{stack.url}/workbench/queue")
        if "near" not in queue_cases(page):
            break
        time.sleep(0.25)
    assert queue_cases(page)[0] == "big"
    page.context.close()


def test_staff_cannot_approve_over_the_limit_and_a_supervisor_can(browser: Any, stack: Stack) -> None:
    page = signed_in(browser, stack, "alice")
    page.goto(f"{stack.url}/workbench/cases/big")
    page.click("form[action$='/big/approve'] button[type=submit]")
    banner = page.locator(".banner").inner_text()
    assert "exceeds the staff limit" in banner and "supervisor" in banner  # the API's own message
    assert stack.case("alice", "big")["state"] == "awaiting_merchant_decision"
    page.context.close()

    page = signed_in(browser, stack, "sam")
    page.click("nav.tabs a[href$='view=over_limit']")
    assert queue_cases(page) == ["big"]
    page.click("tr[data-case=big] a")
    page.click("form[action$='/big/approve'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/cases/big\?done=approve"))
    assert stack.case("sam", "big")["state"] in ("refunding", "refunded")
    page.context.close()


def test_a_stale_form_is_refused_and_bad_input_changes_nothing(browser: Any, stack: Stack) -> None:
    page = signed_in(browser, stack, "alice")
    page.goto(f"{stack.url}/workbench/cases/stale")
    before = stack.case("alice", "stale")
    # Someone else acts meanwhile: the page's forms now carry an old version.
    noted = stack.call("sam", "POST", "/v1/cases/stale/add_note", json={"note": "called the buyer"})
    assert noted.status_code == 200, noted.text
    open_form(page, "stale", "reject")
    page.fill("#reject-reason", "photos show no defect")
    page.click("form[action$='/stale/reject'] button[type=submit]")
    assert "This case changed: reload" in page.locator(".banner").inner_text()
    after = stack.case("alice", "stale")
    assert (after["state"], after["version"]) == (before["state"], before["version"] + 1)  # the note only

    page.click("text=Reload the case")
    open_form(page, "stale", "reject")
    page.fill("#reject-reason", "")
    page.click("form[action$='/stale/reject'] button[type=submit]")
    assert page.locator("#e-reject-reason").inner_text() == "Field required"
    assert page.get_attribute("#reject-reason", "aria-invalid") == "true"
    open_form(page, "stale", "offer_partial_refund")
    page.fill("#offer_partial_refund-amount", "twelve")
    page.click("form[action$='/stale/offer_partial_refund'] button[type=submit]")
    assert page.locator("#e-offer_partial_refund-amount").inner_text() == "Enter an amount such as 199.00"
    assert stack.case("alice", "stale")["version"] == after["version"]  # nothing changed
    page.context.close()


def test_another_shops_case_is_not_found_like_a_free_id(browser: Any, stack: Stack) -> None:
    page = signed_in(browser, stack, "alice")
    theirs = page.goto(f"{stack.url}/workbench/cases/other")
    assert theirs is not None and theirs.status == 404
    shown = page.locator("main").inner_text()
    free = page.goto(f"{stack.url}/workbench/cases/no-such-case")
    assert free is not None and free.status == 404
    assert page.locator("main").inner_text() == shown.replace("other", "no-such-case")
    assert "Case other not found." in shown
    page.context.close()


def test_in_chinese_the_labels_are_chinese_and_amounts_in_yuan(browser: Any, stack: Stack) -> None:
    page = signed_in(browser, stack, "sam", locale="zh-CN", time_zone="Asia/Shanghai")
    assert page.locator("h1").inner_text() == "等待店铺处理"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    row = page.locator("tr[data-case=stale]").inner_text()
    assert "退货退款" in row and "¥" in row and "CN¥" not in row
    shot(page, "queue-zh-CN.png")
    page.click("tr[data-case=stale] a")
    main = page.locator("main").inner_text()
    assert "案件 stale" in main and "等待商家处理" in main and "协商历史" in main
    assert page.locator("form[action$='/stale/approve'] button[type=submit]").inner_text() == "同意"
    shot(page, "case-zh-CN.png")
    page.click("nav.lang a[hreflang=en]")  # the switch
    assert page.locator("form[action$='/stale/approve'] button[type=submit]").inner_text() == "Approve"
    page.context.close()


def test_api_docs_render_with_no_internet(browser: Any, stack: Stack) -> None:
    """/docs is Swagger UI served by the API itself (http_api.docs_assets): the page builds its
    operations list from /openapi.json with every script and style from this host; a request to
    any other host would fail the test, not just go unanswered."""
    context = browser.new_context()
    page = context.new_page()
    elsewhere: list[str] = []
    host = stack.url.split("//", 1)[1]

    def only_here(route: Any) -> None:
        if route.request.url.split("//", 1)[-1].startswith(host):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.goto(f"{stack.url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.dataset.path || e.innerText)")
    assert any("/v1/cases" in str(p) for p in paths)
    assert elsewhere == []
    page.goto(f"{stack.url}/redoc")
    page.wait_for_selector("text=After-sales API", timeout=20_000)
    assert elsewhere == []
    context.close()
