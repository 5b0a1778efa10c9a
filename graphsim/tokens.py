"""RS256 signing keys and the JWTs graphsim issues (Graph access tokens, id tokens)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
ACCESS_TOKEN_SECONDS = 3599  # MSAL ignores cached tokens with < 300 s left; Entra says 3599


class Signer:
    """Owns the RSA key (persisted in the data folder) and validates our own tokens."""

    def __init__(self, data_dir: str):
        path = os.path.join(data_dir, "signing-key.pem")
        if not os.path.exists(path):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            with open(path, "wb") as handle:
                handle.write(pem)
        with open(path, "rb") as handle:
            self.key = serialization.load_pem_private_key(handle.read(), password=None)
        self.public_key = self.key.public_key()
        der = self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")  # noqa: S324
        self._verified: dict[str, dict] = {}

    def jwks(self) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.public_key))
        jwk.update({"kid": self.kid, "use": "sig", "x5t": self.kid, "alg": "RS256"})
        return {"keys": [jwk]}

    def sign(self, claims: dict) -> str:
        return jwt.encode(
            claims, self.key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid}
        )

    def verify_graph_token(self, token: str) -> dict:
        """Return the claims of a valid Graph token; raise jwt exceptions otherwise.

        Verified tokens are memoised because the same bearer token arrives on every
        request; the expiry is still checked each time.
        """
        claims = self._verified.get(token)
        if claims is None:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=["RS256"],
                audience=GRAPH_AUDIENCE,
                options={"verify_exp": False},
            )
            if len(self._verified) > 10000:
                self._verified.clear()
            self._verified[token] = claims
        if claims["exp"] < time.time():
            raise jwt.ExpiredSignatureError("expired")
        return claims


def graph_claims(
    *,
    tenant_id: str,
    app: dict,
    oid: str,
    lifetime: int = ACCESS_TOKEN_SECONDS,
    roles: list | None = None,
    scp: str | None = None,
    wids: list | None = None,
    user: dict | None = None,
) -> dict:
    """Claims shaped like a v1.0-format Graph token, app-only or delegated."""
    now = int(time.time())
    issuer = f"https://sts.windows.net/{tenant_id}/"
    claims = {
        "aud": GRAPH_AUDIENCE,
        "iss": issuer,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "aio": uuid.uuid4().hex,
        "app_displayname": app.get("displayName", ""),
        "appid": app["clientId"],
        "appidacr": "1",
        "idp": issuer,
        "oid": oid,
        "sub": oid,
        "tid": tenant_id,
        "uti": uuid.uuid4().hex[:22],
        "ver": "1.0",
        "wids": wids or [],
        "tenant_region_scope": "EU",
        "xms_tcdt": now,
    }
    if user is None:
        claims["idtyp"] = "app"
        if roles:
            claims["roles"] = roles
    else:
        claims.update(
            {
                "idtyp": "user",
                "scp": scp or "",
                "upn": user["userPrincipalName"],
                "unique_name": user["userPrincipalName"],
                "name": user.get("displayName") or "",
                "given_name": user.get("givenName") or "",
                "family_name": user.get("surname") or "",
                "amr": ["pwd"],
            }
        )
    return claims


def id_token_claims(
    *, issuer: str, tenant_id: str, client_id: str, user: dict, nonce: str | None
) -> dict:
    now = int(time.time())
    claims = {
        "aud": client_id,
        "iss": issuer,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "name": user.get("displayName") or "",
        "oid": user["id"],
        "sub": user["id"],
        "preferred_username": user["userPrincipalName"],
        "tid": tenant_id,
        "ver": "2.0",
        "uti": uuid.uuid4().hex[:22],
    }
    if nonce:
        claims["nonce"] = nonce
    return claims


def client_info(oid: str, tenant_id: str) -> str:
    raw = json.dumps({"uid": oid, "utid": tenant_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
