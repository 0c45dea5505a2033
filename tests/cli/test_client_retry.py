"""The client under the API's 503/504 (a dependency down): reads and openings are retried after
``Retry-After``; a command only when it cannot have been applied; the CLI rides along."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from aftersales_client import AfterSalesClient, ApiError, AsyncAfterSalesClient
from aftersales_client._client import retry_delay
from cli.main import main
from tests.cli.fake_api import FakeApi, case_view


def unavailable(may_have_applied: bool, retry_after: str = "0") -> httpx.Response:
    body = {"detail": "the case engine is not reachable right now; retry shortly", "may_have_applied": may_have_applied}
    return httpx.Response(503, json=body, headers={"Retry-After": retry_after})


def answers(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    """Each call gets the next answer; the last one repeats."""
    queue = list(responses)
    return lambda _: queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def client(api: FakeApi, retries: int = 4) -> AfterSalesClient:
    return AfterSalesClient("http://api.test", "tok", transport=api.transport(), retries=retries)


def test_a_read_is_retried_until_the_engine_is_back(api: FakeApi) -> None:
    api.on("GET", "/v1/cases/c-1", answers(unavailable(False), unavailable(False), httpx.Response(200, json=case_view())))
    with client(api) as c:
        assert c.get_case("c-1")["case_id"] == "c-1"
    assert len(api.requests) == 3


def test_retries_are_bounded_and_the_last_503_reaches_the_caller(api: FakeApi) -> None:
    api.on("GET", "/v1/cases/c-1", unavailable(False))
    with client(api, retries=2) as c, pytest.raises(ApiError) as caught:
        c.get_case("c-1")
    assert caught.value.status == 503 and len(api.requests) == 3


def test_opening_is_retried_even_if_it_may_have_applied(api: FakeApi) -> None:
    # An identical body answers the case already opened, so repeating it is safe.
    api.on("POST", "/v1/cases", answers(unavailable(True), httpx.Response(200, json=case_view())))
    with client(api) as c:
        opened = c.open_case({"case_id": "c-1"})
    assert opened["created"] is False and len(api.requests) == 2


def test_a_command_that_may_have_applied_is_not_repeated_blindly(api: FakeApi) -> None:
    api.on("POST", "/v1/cases/c-1/approve", unavailable(True))
    with client(api) as c, pytest.raises(ApiError) as caught:
        c.act("c-1", "approve")
    assert caught.value.status == 503 and caught.value.body["may_have_applied"] is True
    assert len(api.requests) == 1


def test_a_command_that_did_not_apply_is_repeated(api: FakeApi) -> None:
    api.on("POST", "/v1/cases/c-1/approve", answers(unavailable(False), httpx.Response(200, json=case_view())))
    with client(api) as c:
        c.act("c-1", "approve")
    assert [r.method for r in api.requests] == ["POST", "POST"]


def test_a_versioned_command_is_repeated_when_a_read_shows_the_case_unchanged(api: FakeApi) -> None:
    api.on("POST", "/v1/cases/c-1/approve", answers(unavailable(True), httpx.Response(200, json=case_view())))
    api.on("GET", "/v1/cases/c-1", httpx.Response(200, json=case_view(version=3)))
    with client(api) as c:
        c.act("c-1", "approve", expected_version=3)
    assert [r.method for r in api.requests] == ["POST", "GET", "POST"]


def test_a_versioned_command_is_not_repeated_when_the_case_moved(api: FakeApi) -> None:
    api.on("POST", "/v1/cases/c-1/approve", unavailable(True))
    api.on("GET", "/v1/cases/c-1", httpx.Response(200, json=case_view(version=4)))
    with client(api) as c, pytest.raises(ApiError):
        c.act("c-1", "approve", expected_version=3)
    assert [r.method for r in api.requests] == ["POST", "GET"]


async def test_the_async_client_retries_too(api: FakeApi) -> None:
    api.on("GET", "/v1/cases/c-1", answers(unavailable(False), httpx.Response(200, json=case_view())))
    async with AsyncAfterSalesClient("http://api.test", "tok", transport=api.async_transport()) as c:
        assert (await c.get_case("c-1"))["case_id"] == "c-1"
    assert len(api.requests) == 2


def test_delay_follows_retry_after_and_is_capped() -> None:
    assert retry_delay(unavailable(False, "2"), 0) == 2.0
    assert retry_delay(unavailable(False, "3600"), 0) == 10.0
    no_header = httpx.Response(503)
    assert 0.25 <= retry_delay(no_header, 0) <= 0.5
    assert 2.0 <= retry_delay(no_header, 3) <= 4.0


def test_the_cli_retries_a_read(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.on("GET", "/v1/cases/c-1", answers(unavailable(False), httpx.Response(200, json=case_view())))
    code = main(["--api-url", "http://api.test", "--token", "tok", "show", "c-1"], transport=api.transport())
    assert code == 0, capsys.readouterr()
    assert len(api.requests) == 2
