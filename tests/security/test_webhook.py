"""Forged courier webhooks (``POST /v1/courier/events``), beyond ``tests/api/test_courier.py``
(which covers a missing, empty, non-hex and wrong-secret signature and a body edited after signing).

Decisions asserted here (``http_api/courier.py``): the signature is the bare hex HMAC-SHA256 of
the raw body bytes; hex digits are compared case-insensitively (``ABCD`` and ``abcd`` are the same
MAC, so accepting both weakens nothing); anything else that is
not exactly that MAC over exactly these bytes is a 401 and the case does not move.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.api.conftest import WEBHOOK_SECRET, eventually
from tests.api.test_courier import event, return_in_transit, signed

URL = "/v1/courier/events"


def mac(raw: bytes, secret: str = WEBHOOK_SECRET, digest: Any = hashlib.sha256) -> str:
    return hmac.new(secret.encode(), raw, digest).hexdigest()


@pytest.fixture
async def parcel(api):
    """A return in transit whose tracking number the webhook can find: (case_id, tracking)."""
    return await return_in_transit(api)


async def test_forged_signatures_are_401_and_the_case_does_not_move(api, parcel):
    case_id, tracking = parcel
    before = await api.view(case_id)
    raw, headers = signed(event(tracking, "delivered"))
    good = headers["X-Signature"]
    other_body, _ = signed(event(tracking, "exception"))
    reformatted = json.dumps(json.loads(raw), indent=2, sort_keys=True).encode()  # same JSON, other bytes
    attempts = {
        "signature of another body": (raw, mac(other_body)),
        "valid signature, modified body (replay)": (other_body, good),
        "same JSON re-serialised": (reformatted, good),
        "trailing newline added": (raw + b"\n", good),
        "truncated to 63": (raw, good[:63]),
        "truncated to half": (raw, good[:32]),
        "one digit changed": (raw, good[:-1] + ("0" if good[-1] != "0" else "1")),
        "extended": (raw, good + "00"),
        "sha256= prefix": (raw, "sha256=" + good),
        "base64 of the MAC": (
            raw,
            base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).digest()).decode(),
        ),
        "HMAC-SHA1": (raw, mac(raw, digest=hashlib.sha1)),
        "HMAC-SHA512": (raw, mac(raw, digest=hashlib.sha512)),
        "plain SHA-256 of the body": (raw, hashlib.sha256(raw).hexdigest()),
        "empty secret": (raw, mac(raw, secret="")),
        "secret with different case": (raw, mac(raw, secret=WEBHOOK_SECRET.upper())),
        "the secret itself": (raw, WEBHOOK_SECRET),
        "two signatures": (raw, f"{good},{good}"),
    }
    for what, (body, signature) in attempts.items():
        response = await api.http.post(URL, content=body, headers={**headers, "X-Signature": signature})
        assert response.status_code == 401, (what, response.status_code, response.text)
        assert response.headers["WWW-Authenticate"].startswith("HMAC-SHA256")
    after = await api.view(case_id)
    assert (after["state"], after["version"], after["timeline"]) == (
        "return_in_transit",
        before["version"],
        before["timeline"],
    )


@pytest.mark.parametrize(
    "variant",
    [str.upper, lambda s: s[:32].upper() + s[32:]],
    ids=["uppercase", "mixed-case"],
)
async def test_hex_digits_are_case_insensitive(api, variant):
    raw, headers = signed(event("UNKNOWN-TRACKING", "in_transit"))
    response = await api.http.post(
        URL, content=raw, headers={**headers, "X-Signature": variant(headers["X-Signature"])}
    )
    assert response.status_code == 202, response.text


async def test_a_replayed_signed_event_changes_nothing(api, parcel):
    """No timestamp is signed, so a captured event can be re-sent; the case ignores a scan it has seen."""
    case_id, tracking = parcel
    raw, headers = signed(event(tracking, "in_transit"))
    assert (await api.http.post(URL, content=raw, headers=headers)).json()["matched"] == 1
    # A courier event is taken in after its 202 (a signal): the case shows it once recorded.
    once = await eventually(lambda: api.view(case_id), lambda v: any(
        e["action"] == "parcel_in_transit" for e in v["timeline"]), 15, "the scan to be recorded")
    assert [e["action"] for e in once["timeline"]].count("parcel_in_transit") == 1
    for _ in range(3):
        assert (await api.http.post(URL, content=raw, headers=headers)).status_code == 202
    # A command after the replays answers with the case as of after them (signals first).
    noted = await api.ok(case_id, "add_note", "staff", {"note": "after the replays"})
    assert (noted["version"], len(noted["timeline"])) == (once["version"] + 1, len(once["timeline"]) + 1)
    assert [e["action"] for e in noted["timeline"]].count("parcel_in_transit") == 1


async def test_signed_but_empty_or_not_an_object_is_422(api):
    for raw in (b"", b"[]", b"null", b"{}", b'"delivered"'):
        response = await api.http.post(
            URL, content=raw, headers={"Content-Type": "application/json", "X-Signature": mac(raw)}
        )
        assert response.status_code == 422, (raw, response.text)


async def test_signature_is_checked_before_the_body_is_read(api):
    # Unsigned garbage gets the same 401 as an unsigned valid event: nothing about parsing leaks.
    for raw in (b"{not json", b"\xff" * 10, b"[" * 10_000):
        response = await api.http.post(
            URL, content=raw, headers={"Content-Type": "application/json", "X-Signature": "00" * 32}
        )
        assert response.status_code == 401
