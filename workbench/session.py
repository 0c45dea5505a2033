"""Workbench sessions: an API token exchanged once for a signed, HTTP-only session cookie, and the
CSRF token every form carries.

The cookie holds the principal (role, id, shop), an expiry and a random nonce, signed with
HMAC-SHA256 under a key derived from the tokens file (alike on every replica, so any replica
reads it; ``AFTERSALES_PAGE_TOKEN_KEY`` when the API accepts JWTs only). The token itself is
never stored. The CSRF token is an HMAC of the session's nonce (the synchronizer-token pattern
without server state); before sign-in, the sign-in form uses a double-submit cookie. Every POST
checks its token, and a request whose ``Origin`` names another site is refused as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from domain.models import Principal, Role

COOKIE = "wb_session"
PRE_COOKIE = "wb_presession"
#: How long a sign-in lasts.
SESSION_SECONDS = 8 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    principal: Principal
    expires: int
    nonce: str


class Sessions:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, data: bytes) -> bytes:
        return hmac.new(self._key, purpose.encode() + b"\0" + data, hashlib.sha256).digest()

    def issue(self, principal: Principal, now: float | None = None) -> tuple[str, Session]:
        session = Session(principal, int((now or time.time()) + SESSION_SECONDS), self.new_nonce())
        body = json.dumps({"r": principal.role.value, "i": principal.id, "s": principal.shop_id,
                           "e": session.expires, "n": session.nonce}, separators=(",", ":")).encode()
        return f"{_b64(body)}.{_b64(self._mac('session', body))}", session

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie holds, or None (missing, forged, malformed or expired)."""
        if not cookie or cookie.count(".") != 1:
            return None
        body_text, mac_text = cookie.split(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        try:
            data = json.loads(body)
            principal = Principal(role=Role(data["r"]), id=data["i"], shop_id=data["s"])
            expires, nonce = int(data["e"]), str(data["n"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= (now or time.time()):
            return None
        return Session(principal, expires, nonce)

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(16)

    def csrf(self, nonce: str) -> str:
        """The form token of a session (or of a pre-session nonce)."""
        return _b64(self._mac("csrf", nonce.encode()))

    def csrf_ok(self, nonce: str | None, presented: str | None) -> bool:
        return bool(nonce and presented) and hmac.compare_digest(self.csrf(nonce or ""), presented or "")
