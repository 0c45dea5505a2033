"""The ``aftersales`` command: parsing, what it sends, what it prints, how it fails. No servers:
the API is a MockTransport."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from cli.main import EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, LIST_FILTERS, build_parser, main
from domain.rules import ACTIONS as PAYLOADS
from tests.cli.fake_api import FakeApi, case_view

API = ["--api-url", "http://api.test", "--token", "tok"]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def run(api: FakeApi, *argv: str) -> int:
    return main([*API, *argv], transport=api.transport())


# ---------------------------------------------------------------------------------- parsing


def test_every_action_has_a_subcommand() -> None:
    parser = build_parser()
    for action in PAYLOADS:
        extra = {
            "reject": ["--reason", "x"],
            "offer_partial_refund": ["--amount", "1"],
            "submit_return_shipment": ["--carrier", "sf", "--tracking-number", "T1"],
            "record_inspection": ["--passed", "--responsibility", "no_fault"],
            "ship_item": ["--carrier", "sf", "--tracking-number", "T2"],
            "arbitrate": ["--outcome", "deny"],
            "extend_deadline": ["--by", "3d", "--reason", "holiday"],
            "add_note": ["--note", "hi"],
        }.get(action, [])
        args = parser.parse_args([action.replace("_", "-"), "c-1", *extra])
        assert (args.command, args.action, args.case_id) == ("act", action, "c-1")


def test_inspection_takes_passed_or_failed(api: FakeApi) -> None:
    parser = build_parser()
    failed = parser.parse_args(
        [
            "record-inspection",
            "c-1",
            "--failed",
            "--responsibility",
            "buyer_misuse",
            "--evidence",
            "https://x/1.jpg",
            "--evidence",
            "https://x/2.jpg",
        ]
    )
    assert failed.passed is False and failed.evidence == ["https://x/1.jpg", "https://x/2.jpg"]
    with pytest.raises(SystemExit):
        parser.parse_args(["record-inspection", "c-1", "--responsibility", "no_fault"])  # neither given
    with pytest.raises(SystemExit):
        parser.parse_args(["record-inspection", "c-1", "--passed", "--failed", "--responsibility", "no_fault"])


def test_bad_choices_and_missing_required_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["arbitrate", "c-1", "--outcome", "maybe"])
    assert caught.value.code == EXIT_USAGE
    assert "invalid choice: 'maybe'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["add-note", "c-1"])  # add-note needs --note
    assert "--note" in capsys.readouterr().err


def test_global_options_work_after_the_subcommand_too(api: FakeApi) -> None:
    api.on("GET", "/v1/cases/c-1", httpx.Response(200, json=case_view()))
    code = main(["show", "c-1", "--api-url", "http://api.test", "--token", "late", "--json"], transport=api.transport())
    assert code == 0 and api.last.headers["Authorization"] == "Bearer late"


# ---------------------------------------------------------------------------------- commands


def test_action_sends_payload_and_prints_the_new_state(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.on(
        "POST",
        "/v1/cases/c-1/approve",
        httpx.Response(200, json=case_view(state="refunding", waiting_on="payment", version=4)),
    )
    code = run(api, "approve", "c-1", "--amount", "1999", "--note", "goodwill", "--expected-version", "3")
    assert code == 0
    assert api.last_json() == {"amount": 1999, "note": "goodwill", "expected_version": 3}
    out = capsys.readouterr().out
    assert "approve: done, case c-1 is now refunding (version 4)" in out


def test_extend_deadline_and_inspection_payloads(api: FakeApi) -> None:
    api.on("POST", "/v1/cases/c-1/extend_deadline", httpx.Response(200, json=case_view()))
    api.on("POST", "/v1/cases/c-1/record_inspection", httpx.Response(200, json=case_view()))
    assert run(api, "extend-deadline", "c-1", "--by", "3d", "--reason", "buyer travelling") == 0
    assert api.last_json() == {"by": "3d", "reason": "buyer travelling"}
    assert (
        run(
            api,
            "record-inspection",
            "c-1",
            "--failed",
            "--responsibility",
            "buyer_misuse",
            "--evidence",
            "https://e/1.jpg",
            "--deduction",
            "500",
        )
        == 0
    )
    assert api.last_json() == {
        "passed": False,
        "responsibility": "buyer_misuse",
        "deduction": 500,
        "evidence": ["https://e/1.jpg"],
    }


def test_show_prints_a_readable_summary(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.on("GET", "/v1/cases/c-1", httpx.Response(200, json=case_view()))
    assert run(api, "show", "c-1") == 0
    out = capsys.readouterr().out
    assert "state     awaiting_merchant_decision, waiting on merchant" in out
    assert "deadline  2030-01-01 12:00:00" in out and "auto-approve the return" in out
    assert "112.00 CNY (none) = refund 110.00 CNY + reimbursement 2.00 CNY" in out
    assert "original_shipping" in out and "10.00 CNY" in out
    assert "system:shop-backend" in out and "opened" in out and "requested_refund=110.00 CNY" in out
    assert "next      approve, reject (staff, supervisor); cancel (buyer); add-note (buyer, staff, supervisor)" in out


def test_json_output_is_the_api_answer(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.on("GET", "/v1/cases/c-1", httpx.Response(200, json=case_view()))
    assert run(api, "--json", "show", "c-1") == 0
    assert json.loads(capsys.readouterr().out) == case_view()


def test_list_prints_a_table_and_passes_filters(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {
            "case_id": "c-1",
            "type": "refund_only",
            "state": "awaiting_merchant_decision",
            "waiting_on": "merchant",
            "deadline": None,
            "dispute_risk": True,
        },
        {"case_id": "c-2", "type": "exchange", "state": "closed", "waiting_on": None, "deadline": None},
    ]
    api.on("GET", "/v1/cases", httpx.Response(200, json={"items": rows, "next_page_token": None}))
    assert (
        run(
            api,
            "list",
            "--state",
            "awaiting_merchant_decision",
            "--shop",
            "shop-1",
            "--dispute-risk",
            "--deadline-before",
            "2h",
        )
        == 0
    )
    params = api.last.url.params
    assert params["state"] == "awaiting_merchant_decision" and params["shop_id"] == "shop-1"
    assert params["dispute_risk"] == "true" and "T" in params["deadline_before"]
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["case", "type", "state", "waiting", "on", "deadline", "risk", "opened"]
    assert out[2].split() == ["c-1", "refund_only", "awaiting_merchant_decision", "merchant", "-", "yes", "-"]
    assert out[3].split() == ["c-2", "exchange", "closed", "-", "-", "-"]


def test_list_has_an_option_for_every_filter_the_api_accepts() -> None:
    from http_api import create_app
    from runtime.settings import Settings

    operation = create_app(Settings(AFTERSALES_PAGE_TOKEN_KEY="k"), tokens={}).openapi()["paths"]["/v1/cases"]["get"]
    accepted = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    # Paging is the client's business: `list` follows next_page_token to the end.
    assert accepted - {"page_size", "page_token"} == set(LIST_FILTERS)


@pytest.mark.parametrize(
    ("options", "params"),
    [
        (["--type", "return_refund"], {"type": "return_refund"}),
        (["--buyer", "buyer-1"], {"buyer_id": "buyer-1"}),
        (["--order", "o-1001"], {"order_id": "o-1001"}),
        (["--tracking-number", "SF100"], {"tracking_number": "SF100"}),
        (["--waiting-on", "courier"], {"waiting_on": "courier"}),
        (["--no-dispute-risk"], {"dispute_risk": "false"}),
        (["--state", "closed", "--state", "refunded"], {"state": ["closed", "refunded"]}),
    ],
)
def test_list_sends_each_filter_as_the_api_names_it(
    api: FakeApi, options: list[str], params: dict[str, object]
) -> None:
    api.on("GET", "/v1/cases", httpx.Response(200, json={"items": [], "next_page_token": None}))
    assert run(api, "list", *options) == 0
    sent = {key: api.last.url.params.get_list(key) for key in api.last.url.params}
    assert sent == {key: value if isinstance(value, list) else [value] for key, value in params.items()}


def test_list_refuses_an_unknown_type(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(api, "list", "--type", "swap")
    assert exited.value.code == EXIT_USAGE
    assert "invalid choice: 'swap'" in capsys.readouterr().err


def test_open_reads_a_file_or_stdin(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api.on("POST", "/v1/cases", httpx.Response(201, json=case_view("c-7")))
    request = {"case_id": "c-7", "type": "refund_only"}
    path = tmp_path / "req.json"
    path.write_text(json.dumps(request))
    assert run(api, "open", str(path)) == 0
    assert api.last_json() == request
    assert "opened: c-7" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request)))
    assert run(api, "open", "-") == 0
    assert api.last_json() == request


def test_open_with_a_missing_or_bad_file_is_a_usage_error(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(api, "open", str(tmp_path / "nope.json")) == EXIT_USAGE
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run(api, "open", str(bad)) == EXIT_USAGE
    assert "is not JSON" in capsys.readouterr().err
    assert api.requests == []


# ---------------------------------------------------------------------------------- failures


def test_a_refusal_prints_the_api_detail_and_exits_non_zero(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.on(
        "POST",
        "/v1/cases/c-1/approve",
        httpx.Response(
            409,
            json={
                "detail": "case c-1 is refunded; approve is not possible there",
                "state": "refunded",
                "allowed_actions": ["add_note"],
            },
        ),
    )
    assert run(api, "approve", "c-1") == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "error 409: case c-1 is refunded; approve is not possible there" in err
    assert "possible now: add-note" in err


def test_json_mode_prints_the_error_as_json(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"detail": "invalid request: amount: at most 100", "errors": [{"field": "amount", "message": "at most 100"}]}
    api.on("POST", "/v1/cases/c-1/approve", httpx.Response(422, json=body))
    assert run(api, "--json", "approve", "c-1", "--amount", "500") == EXIT_REFUSED
    assert json.loads(capsys.readouterr().out)["error"] == {"status": 422, "detail": body["detail"], "body": body}


def test_an_unreachable_api_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert main([*API, "show", "c-1"], transport=httpx.MockTransport(refuse)) == EXIT_UNREACHABLE
    assert "cannot reach http://api.test: connection refused" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- --as


def test_as_picks_the_token_from_the_tokens_file(api: FakeApi, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "tok-a": {"role": "staff", "id": "alice", "shop_id": "shop-1"},
                "tok-b": {"role": "buyer", "id": "buyer-1"},
            }
        )
    )
    api.on("GET", "/v1/cases/c-1", httpx.Response(200, json=case_view()))
    code = main(
        ["--api-url", "http://api.test", "--tokens-file", str(tokens), "--as", "buyer-1", "show", "c-1"],
        transport=api.transport(),
    )
    assert code == 0 and api.last.headers["Authorization"] == "Bearer tok-b"


def test_as_with_an_unknown_name_lists_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tok-a": {"role": "staff", "id": "alice", "shop_id": "shop-1"}}))
    assert main(["--tokens-file", str(tokens), "--as", "bob", "show", "c-1"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--as bob: no such principal" in err and "known: alice" in err


def test_every_bad_field_is_listed(
    api: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = [{"field": "order.currency", "message": "bad code"}, {"field": "items", "message": "too short"}]
    api.on("POST", "/v1/cases", httpx.Response(422, json={"detail": "invalid case request: ...", "errors": errors}))
    monkeypatch.setattr("sys.stdin", io.StringIO("{}"))
    assert run(api, "open", "-") == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "  order.currency: bad code" in err and "  items: too short" in err


def test_token_prints_a_principals_token_from_the_tokens_file_it_is_pointed_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file comes from AFTERSALES_TOKENS (as `aftersales dev --data-dir` prints), not a fixed .data/ path.
    tokens = tmp_path / "elsewhere" / "tokens.json"
    tokens.parent.mkdir()
    tokens.write_text(json.dumps({"tok-a": {"role": "staff", "id": "alice", "shop_id": "shop-1"}}))
    monkeypatch.setenv("AFTERSALES_TOKENS", str(tokens))
    assert main(["token", "alice"]) == 0
    assert capsys.readouterr().out == "tok-a\n"
    assert main(["token", "nobody"]) == EXIT_USAGE
    assert "no such principal" in capsys.readouterr().err


class _ClosedPipe(io.StringIO):
    """stdout whose reader went away (``aftersales show c-1 | head -0``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_ends_the_command_quietly(api: FakeApi, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    api.on("GET", "/v1/cases/c-1", httpx.Response(200, json=case_view()))
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert run(api, "show", "c-1") == 141
    assert "Traceback" not in capsys.readouterr().err
