"""Production authentication: JWTs from the identity provider, checked against its JWKS.

The provider is a local HTTP server on a free port publishing one RSA key; tokens are signed
with it (or with a key it does not publish). The API keeps its tokens file beside the JWTs.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from http_api import create_app
from runtime.settings import Settings
from tests.api.conftest import api_settings, token
from tests.support.serve import serve

ISSUER = "https://id.marketplace.test/"
AUDIENCE = "aftersales-api"


@dataclass
class IdentityProvider:
    key: rsa.RSAPrivateKey
    kid: str
    jwks_url: str
    jwks_requests: int = 0

    def sign(self, claims: dict[str, Any], key: rsa.RSAPrivateKey | None = None, kid: str | None = None) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[IdentityProvider]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = f"k-{uuid.uuid4().hex[:8]}"
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    app = FastAPI()
    idp = IdentityProvider(key, kid, "")

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        idp.jwks_requests += 1
        return {"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}

    async with serve(app) as base_url:
        idp.jwks_url = f"{base_url}/.well-known/jwks.json"
        yield idp


@pytest.fixture(scope="module")
async def jwt_api(dev_server: WorkflowEnvironment, tokens_file: str, provider: IdentityProvider) -> AsyncIterator[str]:
    settings = api_settings(
        tokens_file,
        AFTERSALES_JWT_JWKS_URL=provider.jwks_url,
        AFTERSALES_JWT_ISSUER=ISSUER,
        AFTERSALES_JWT_AUDIENCE=AUDIENCE,
        AFTERSALES_JWT_ROLE_CLAIM="https://marketplace.test/role",
        AFTERSALES_JWT_SHOP_CLAIM="https://marketplace.test/shop",
    )
    app = create_app(settings, client=dev_server.client)
    async with serve(app) as base_url:
        yield base_url


def staff_claims(**overrides: Any) -> dict[str, Any]:
    return {
        "sub": "alice",
        "https://marketplace.test/role": "staff",
        "https://marketplace.test/shop": "shop-1",
        **overrides,
    }


async def list_cases(base_url: str, bearer: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return await http.get("/v1/cases", params={"shop_id": "shop-1"}, headers={"Authorization": f"Bearer {bearer}"})


@pytest.mark.parametrize(
    ("case", "claims", "status", "reason"),
    [
        ("wrong audience", staff_claims(aud="another-api"), 401, "audience must be aftersales-api"),
        ("expired", staff_claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), 401, "expired"),
        ("staff without a shop", staff_claims(**{"https://marketplace.test/shop": None}), 401,
         "needs a https://marketplace.test/shop claim"),
        ("valid", staff_claims(), 200, None),
    ],
)
async def test_jwt_answers(jwt_api, provider, caplog, case, claims, status, reason):
    bearer = provider.sign(claims)
    with caplog.at_level(logging.DEBUG):
        response = await list_cases(jwt_api, bearer)
    assert response.status_code == status, f"{case}: {response.text}"
    if reason is not None:
        assert reason in response.json()["detail"], response.text
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    else:
        assert response.json()["items"] == [] or all(i["shop_id"] == "shop-1" for i in response.json()["items"])
    # No token value ever reaches a log line (nor any part of it: the signature is the secret part).
    assert bearer not in caplog.text
    assert bearer.split(".")[2] not in caplog.text


async def test_other_issuer_unknown_key_and_bad_role_are_refused(jwt_api, provider):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "the token was not issued by": provider.sign(staff_claims(iss="https://evil.test/")),
        "signing key is not one the identity provider publishes": provider.sign(staff_claims(), stranger, "k-other"),
        "signature does not verify": provider.sign(staff_claims(), stranger),
        "claim must be one of": provider.sign(staff_claims(**{"https://marketplace.test/role": "admin"})),
        "has no sub claim": provider.sign(staff_claims(sub=None)),
    }
    for reason, bearer in cases.items():
        response = await list_cases(jwt_api, bearer)
        assert response.status_code == 401, f"{reason}: {response.text}"
        assert reason in response.json()["detail"], response.text


async def test_the_tokens_file_still_works_beside_jwts(jwt_api):
    assert (await list_cases(jwt_api, token("staff"))).status_code == 200
    assert (await list_cases(jwt_api, "not-a-token")).status_code == 401


async def test_jwks_unreachable_is_503_not_401(dev_server, tokens_file, provider, unused_tcp_port):
    settings = api_settings(
        tokens_file,
        AFTERSALES_JWT_JWKS_URL=f"http://127.0.0.1:{unused_tcp_port}/jwks.json",
        AFTERSALES_JWT_ISSUER=ISSUER,
        AFTERSALES_JWT_AUDIENCE=AUDIENCE,
    )
    app = create_app(settings, client=dev_server.client)
    async with serve(app) as base_url:
        response = await list_cases(base_url, provider.sign({"sub": "alice", "role": "staff", "shop_id": "shop-1"}))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]


def test_jwt_settings_need_issuer_and_audience():
    with pytest.raises(ValueError, match="AFTERSALES_JWT_ISSUER and AFTERSALES_JWT_AUDIENCE"):
        Settings(AFTERSALES_JWT_JWKS_URL="http://127.0.0.1:1/jwks.json")
    with pytest.raises(ValueError, match="asymmetric"):
        Settings(AFTERSALES_JWT_ALGORITHMS="HS256")


def test_jwt_only_needs_a_page_token_key(provider):
    base = {
        "AFTERSALES_JWT_JWKS_URL": provider.jwks_url or "http://127.0.0.1:1/jwks.json",
        "AFTERSALES_JWT_ISSUER": ISSUER,
        "AFTERSALES_JWT_AUDIENCE": AUDIENCE,
    }
    with pytest.raises(ValueError, match="AFTERSALES_PAGE_TOKEN_KEY"):
        create_app(Settings(**base))
    assert create_app(Settings(**base, AFTERSALES_PAGE_TOKEN_KEY="s3cret")) is not None
