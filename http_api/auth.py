"""Bearer tokens: who is calling.

The tokens file (``AFTERSALES_TOKENS``) is a JSON object mapping each token to its principal::

    {"3f9c...": {"role": "staff", "id": "alice", "shop_id": "shop-1"},
     "77ab...": {"role": "buyer", "id": "buyer-1"}}

Staff and supervisors need a ``shop_id``; a ``system`` token with a ``shop_id`` is the backend of
that one shop. A presented token is checked against every known token in constant time (SHA-256
digests compared with ``hmac.compare_digest``), so neither a dict lookup nor an early exit tells
an attacker how close a guess was.

In production the API also accepts JWTs signed by the marketplace's identity provider
(``AFTERSALES_JWT_JWKS_URL``, ``_ISSUER``, ``_AUDIENCE``; :class:`JwtVerifier`): the signature is
checked against the provider's published keys, and the issuer, the audience and the expiry
must hold; the role, the principal id and the shop come from configurable claims. A bearer
value that looks like a JWT (three dot-separated parts) is checked as one; any other against the
tokens file. Every refusal is a ``401`` whose ``detail`` says why; no token value is ever
written to a log or an answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from domain.models import Principal, Role
from http_api.problems import ApiError
from runtime.settings import Settings

log = logging.getLogger(__name__)

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


#: The principals of a starter tokens file (``python -m http_api --init-tokens PATH``): the shop's
#: backend opens cases, the operator reads everything. Add staff, buyers ... by editing the file,
#: or use JWTs from the identity provider for people.
STARTER_PRINCIPALS: tuple[Principal, ...] = (
    Principal(role=Role.SYSTEM, id="shop-backend"),
    Principal(role=Role.OPERATOR, id="operator"),
)


def write_starter_tokens(path: str | Path) -> bool:
    """Create a tokens file with one random token per :data:`STARTER_PRINCIPALS` (readable by its
    owner only); an existing file is left alone. Returns whether it wrote one."""
    target = Path(path)
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    entries = {f"{p.role}-{secrets.token_urlsafe(24)}": p.model_dump(mode="json", exclude_none=True)
               for p in STARTER_PRINCIPALS}
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    temporary.chmod(0o600)
    temporary.replace(target)
    return True


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


class TokenRefused(Exception):
    """A JWT that is not accepted; the message is the reason given to the caller (never the token)."""


class KeysUnavailable(Exception):
    """The identity provider's keys (JWKS) could not be fetched: a dependency's fault, not the caller's."""


class JwtVerifier:
    """Checks JWTs against the identity provider's published keys and maps their claims to a
    :class:`Principal`. The keys are fetched from the JWKS URL and cached (five minutes), and
    fetched again for a key id not seen yet (the provider rotated its keys)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.jwt_jwks_url:
            raise ValueError("JwtVerifier needs AFTERSALES_JWT_JWKS_URL")
        self._keys = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300, timeout=5)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._algorithms = settings.jwt_algorithms.split(",")
        self._leeway = settings.jwt_leeway_seconds
        self._claims = (settings.jwt_role_claim, settings.jwt_id_claim, settings.jwt_shop_claim)

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        return token.count(".") == 2

    def principal(self, token: str) -> Principal:
        """The principal the token names; :class:`TokenRefused` (why) or :class:`KeysUnavailable`."""
        try:
            key = self._keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as err:
            raise KeysUnavailable(f"the identity provider's keys could not be fetched: {err}") from None
        except jwt.PyJWKClientError as err:
            raise TokenRefused(f"the token's signing key is not one the identity provider publishes ({err})") from None
        except jwt.DecodeError:
            raise TokenRefused("the token is not a well-formed JWT") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(f"the token is not for this API (audience must be {self._audience})") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused(f"the token was not issued by {self._issuer}") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("the token is not valid yet (nbf/iat in the future)") from None
        except jwt.MissingRequiredClaimError as err:
            raise TokenRefused(f"the token has no {err.claim} claim") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRefused(f"the token is signed with an algorithm not accepted here ({', '.join(self._algorithms)})") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("the token's signature does not verify") from None
        except jwt.InvalidTokenError as err:
            raise TokenRefused(f"the token is not valid: {err}") from None
        return self._to_principal(claims)

    def _to_principal(self, claims: Mapping[str, Any]) -> Principal:
        role_claim, id_claim, shop_claim = self._claims
        role, principal_id, shop = claims.get(role_claim), claims.get(id_claim), claims.get(shop_claim)
        if not isinstance(role, str) or role not in {r.value for r in Role}:
            allowed = ", ".join(r.value for r in Role)
            raise TokenRefused(f"the token's {role_claim} claim must be one of {allowed}")
        if not isinstance(principal_id, str) or not principal_id:
            raise TokenRefused(f"the token has no {id_claim} claim (the principal's id)")
        if shop is not None and not isinstance(shop, str):
            raise TokenRefused(f"the token's {shop_claim} claim must be a string")
        if Role(role) in SHOP_ROLES and not shop:
            raise TokenRefused(f"a {role} token needs a {shop_claim} claim (the shop it works for)")
        try:
            return Principal(role=Role(role), id=principal_id, shop_id=shop or None)
        except ValidationError as err:
            reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors(include_url=False))
            raise TokenRefused(f"the token's claims do not name a valid principal: {reasons}") from None


_bearer = HTTPBearer(
    auto_error=False,
    description="A token from the tokens file (AFTERSALES_TOKENS), or a JWT from the identity provider when "
    "AFTERSALES_JWT_JWKS_URL is set; it maps to a role, an id and a shop.",
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
    token = credentials.credentials
    verifier: JwtVerifier | None = request.app.state.api.jwt
    if verifier is not None and verifier.looks_like_jwt(token):
        try:
            # The key fetch is blocking I/O (on a cache miss): off the event loop.
            return await asyncio.to_thread(verifier.principal, token)
        except TokenRefused as err:
            raise unauthorized(str(err), error="invalid_token") from None
        except KeysUnavailable as err:
            log.warning("%s", err)
            raise ApiError(
                503, "the identity provider's keys cannot be fetched right now; retry shortly",
                headers={"Retry-After": "5"}) from None
    book: TokenBook = request.app.state.api.tokens
    principal = book.principal(token)
    if principal is None:
        raise unauthorized("unknown token", error="invalid_token")
    return principal


#: A route parameter: the authenticated caller.
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
