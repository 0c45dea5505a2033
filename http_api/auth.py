"""Bearer tokens: who is calling.

The tokens file (``AFTERSALES_TOKENS``) is a JSON object mapping each token to its principal::

    {"3f9c...": {"role": "staff", "id": "alice", "shop_id": "shop-1"},
     "77ab...": {"role": "buyer", "id": "buyer-1"}}

Staff and supervisors need a ``shop_id``; a ``system`` token with a ``shop_id`` is the backend of
that one shop. A presented token is checked against every known token in constant time (SHA-256
digests compared with ``hmac.compare_digest``), so neither a dict lookup nor an early exit tells
an attacker how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from domain.models import Principal, Role
from http_api.problems import ApiError

SHOP_ROLES = frozenset({Role.STAFF, Role.SUPERVISOR})


class TokensError(ValueError):
    """The tokens file is missing or malformed; the message says where and why."""


def _masked(token: str) -> str:
    return f"{token[:4]}…" if len(token) > 4 else "…"


def load_tokens(path: str | Path) -> dict[str, Principal]:
    """Read a tokens file; raise :class:`TokensError` naming the file, the entry and the problem."""
    where = f"tokens file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TokensError(f"{where} does not exist (set AFTERSALES_TOKENS to the right path)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise TokensError(f"{where} cannot be read: {err}") from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise TokensError(f"{where} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise TokensError(f'{where} must hold a JSON object {{"<token>": {{"role": ..., "id": ...}}}}')
    tokens: dict[str, Principal] = {}
    for position, (token, entry) in enumerate(data.items(), start=1):
        label = f"{where}, entry {position} (token {_masked(token)})"
        if not token or token != token.strip() or any(c.isspace() for c in token):
            raise TokensError(f"{label}: a token must be non-empty and contain no whitespace")
        try:
            principal = Principal.model_validate(entry)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in err.errors(include_url=False)
            )
            raise TokensError(f"{label}: {problems}") from None
        if principal.role in SHOP_ROLES and not principal.shop_id:
            raise TokensError(f"{label}: a {principal.role} needs a shop_id")
        tokens[token] = principal
    return tokens


class TokenBook:
    """Known tokens, matched in constant time."""

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        self._entries = [(hashlib.sha256(t.encode()).digest(), p) for t, p in tokens.items()]

    def __len__(self) -> int:
        return len(self._entries)

    def derived_key(self, purpose: str) -> bytes:
        """A key for ``purpose`` that every replica with the same tokens file derives alike."""
        digests = b"".join(sorted(d for d, _ in self._entries))
        return hmac.new(digests, f"aftersales {purpose}".encode(), hashlib.sha256).digest()

    def principal(self, token: str) -> Principal | None:
        presented = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for digest, principal in self._entries:  # no early exit: every token is compared
            if hmac.compare_digest(presented, digest):
                found = principal
        return found


_bearer = HTTPBearer(
    auto_error=False,
    description="A token from the tokens file (AFTERSALES_TOKENS); it maps to a role, an id and a shop.",
)


def unauthorized(detail: str, error: str | None = None) -> ApiError:
    challenge = 'Bearer realm="aftersales"'
    if error:
        challenge += f', error="{error}"'
    return ApiError(401, detail, headers={"WWW-Authenticate": challenge})


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; 401 when missing or unknown."""
    if credentials is None:
        raise unauthorized("send Authorization: Bearer <token>")
    book: TokenBook = request.app.state.api.tokens
    principal = book.principal(credentials.credentials)
    if principal is None:
        raise unauthorized("unknown token", error="invalid_token")
    return principal


#: A route parameter: the authenticated caller.
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
