"""Tokens from MSAL for one tenant, and the two ways an admin connects a tenant.

One `ConfidentialClientApplication` per tenant, built lazily (its constructor fetches
the OIDC discovery document) with `instance_discovery=False`, so MSAL never reaches
for login.microsoftonline.com on its own. Its token cache is loaded from and saved to a
`TokenStore` (the tenant row, encrypted); the cache never leaves the server.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any, Protocol
from urllib.parse import urlencode

import msal
import requests

from .config import GRAPH_SCOPE, GraphConfig
from .errors import AuthorizationError, GraphError, NeedsReauthorization, Transient
from .transport import session_for

# Delegated permissions requested when an admin signs in (the "delegated" mode). MSAL
# adds openid, profile and offline_access itself.
DELEGATED_SCOPES = [
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Organization.Read.All",
    "Domain.Read.All",
    "User-PasswordProfile.ReadWrite.All",
    "LicenseAssignment.ReadWrite.All",
]


class _NoCacheEvents(logging.Filter):
    """MSAL logs each token response at DEBUG with the authorization code and PKCE
    verifier of the request left in; drop those records so no secret reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("event=")


logging.getLogger("msal.token_cache").addFilter(_NoCacheEvents())

# OAuth errors that mean "an admin must sign in again", not "try later".
_REAUTHORIZE = {
    "invalid_grant",
    "interaction_required",
    "consent_required",
    "unauthorized_client",
    "login_required",
    "invalid_request",
}


class TokenStore(Protocol):
    def load(self) -> str: ...
    def save(self, serialized: str) -> None: ...


class MemoryTokenStore:
    """Keeps a serialized cache in memory (tests, workers without a database)."""

    def __init__(self, serialized: str = ""):
        self.serialized = serialized

    def load(self) -> str:
        return self.serialized

    def save(self, serialized: str) -> None:
        self.serialized = serialized


class _DiscoveryOnlyCache(dict):
    """An MSAL `http_cache` that keeps the OIDC discovery GETs (24 h) and drops every
    token POST reply. MSAL would otherwise replay a 400 token reply for 60 s: the token
    request made right after an admin restores consent would get the stale refusal
    instead of reaching Microsoft. Keys are MSAL's ("GET <url> ..." for discovery), and
    its bookkeeping entry; anything else is not stored, so an unknown key costs a fetch,
    never a stale answer."""

    def __setitem__(self, key, value):
        if key == _MSAL_INDEX or str(key).startswith("GET "):
            super().__setitem__(key, value)


_MSAL_INDEX = "_index_"  # msal.individual_cache._ExpiringMapping._INDEX

# One cache per authority tenant, kept for the process so a new client of that tenant
# does not fetch discovery again; nothing one tenant's sign-in caches reaches another.
_HTTP_CACHES: dict[str, _DiscoveryOnlyCache] = {}


def _http_cache(authority_tenant: str) -> _DiscoveryOnlyCache:
    return _HTTP_CACHES.setdefault(authority_tenant.lower(), _DiscoveryOnlyCache())


def _confidential_app(
    config: GraphConfig, authority_tenant: str, *, session, cache: msal.TokenCache | None = None
) -> msal.ConfidentialClientApplication:
    try:
        return msal.ConfidentialClientApplication(
            config.client_id,
            client_credential=config.client_secret,
            authority=f"{config.login_url}/{authority_tenant}",
            instance_discovery=False,
            http_client=session,
            token_cache=cache,
            http_cache=_http_cache(authority_tenant),
        )
    except requests.RequestException as exc:
        raise Transient(f"Could not reach Microsoft sign-in: {type(exc).__name__}.") from None
    except ValueError as exc:  # discovery refused: the tenant does not exist (any more)
        raise NeedsReauthorization(
            f"Microsoft sign-in does not know the tenant {authority_tenant}: {exc}",
            code="tenant_not_found",
        ) from None


def oauth_error(result: dict[str, Any], *, default=GraphError) -> GraphError:
    """Turn an MSAL error result into our exception. The description's first line is
    Microsoft's reason (AADSTS code and text); no token is ever in it."""
    error = str(result.get("error") or "")
    description = str(result.get("error_description") or error or "unknown error")
    reason = description.splitlines()[0].strip()
    kwargs = {"code": error, "request_id": str(result.get("correlation_id") or "")}
    if error == "invalid_client":
        return AuthorizationError(
            "Microsoft refused Stratus's app credentials (check M365_CLIENT_ID and "
            f"M365_CLIENT_SECRET): {reason}",
            **kwargs,
        )
    if error in _REAUTHORIZE:
        return NeedsReauthorization(
            f"Microsoft no longer accepts the connection: {reason}", **kwargs
        )
    if error in {"temporarily_unavailable", "server_error"}:
        return Transient(f"Microsoft sign-in is unavailable: {reason}", **kwargs)
    return default(f"Microsoft sign-in failed: {reason}", **kwargs)


def token_claims(access_token: str) -> dict[str, Any]:
    """The claims of a Graph access token, read without verifying it: we only use them
    to tell the admin what the token carries (Graph verifies tokens, not us)."""
    try:
        payload = access_token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}


class TokenSource:
    """Access tokens for one tenant. Subclasses decide how MSAL gets them."""

    def __init__(
        self,
        *,
        config: GraphConfig,
        tenant_id: str,
        store: TokenStore,
        session: requests.Session | None = None,
    ):
        self.config = config
        self.tenant_id = tenant_id
        self.store = store
        self.session = session or session_for(config, pool_size=2)
        self._cache: msal.SerializableTokenCache | None = None
        self._app: msal.ConfidentialClientApplication | None = None
        self.last_claims: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tenant_id={self.tenant_id!r})"

    @property
    def app(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            self._cache = msal.SerializableTokenCache()
            serialized = self.store.load()
            if serialized:
                self._cache.deserialize(serialized)
            self._app = _confidential_app(
                self.config, self.tenant_id, session=self.session, cache=self._cache
            )
        return self._app

    def token(self, *, force_refresh: bool = False) -> str:
        try:
            result = self._acquire(force_refresh=force_refresh)
        except requests.RequestException as exc:
            raise Transient(f"Could not reach Microsoft sign-in: {type(exc).__name__}.") from None
        finally:
            self._persist()
        if not result or "access_token" not in result:
            raise oauth_error(
                result
                or {"error": "invalid_grant", "error_description": "No usable token is cached."},
                default=NeedsReauthorization,
            )
        self.last_claims = token_claims(result["access_token"])
        return result["access_token"]

    def _acquire(self, *, force_refresh: bool) -> dict[str, Any] | None:
        raise NotImplementedError

    def forget(self) -> None:
        """Drop every token of this tenant from the cache and the store."""
        self.store.save("")
        self._app = self._cache = None

    def _persist(self) -> None:
        if self._cache is not None and self._cache.has_state_changed:
            self.store.save(self._cache.serialize())
            self._cache.has_state_changed = False


class AppOnlyTokens(TokenSource):
    """Client-credentials tokens (the "application" mode)."""

    def _acquire(self, *, force_refresh: bool):
        app = self.app
        if force_refresh:
            app.remove_tokens_for_client()
        return app.acquire_token_for_client(scopes=[GRAPH_SCOPE])


class DelegatedTokens(TokenSource):
    """Tokens of the admin who signed in, refreshed with their refresh token."""

    def _acquire(self, *, force_refresh: bool):
        app = self.app
        accounts = app.get_accounts()
        if not accounts:
            raise NeedsReauthorization(
                "No signed-in Microsoft 365 account is stored for this tenant.", code="no_account"
            )
        return app.acquire_token_silent_with_error(
            DELEGATED_SCOPES, account=accounts[0], force_refresh=force_refresh
        )


# --- connecting a tenant ---------------------------------------------------------------


class ConnectError(Exception):
    """The connect flow failed; `message` is plain words for the admin."""

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code


_PLAIN_WORDS = {
    "access_denied": "The sign-in was cancelled, or the permissions were declined, in "
    "Microsoft 365. Nothing was connected.",
    "permission_denied": "The admin consent was cancelled, or declined, in Microsoft 365. "
    "Nothing was connected.",
    "consent_required": "An administrator of that Microsoft 365 tenant must grant consent "
    "to Stratus. Sign in with a Global Administrator account.",
    "invalid_client": "Microsoft refused Stratus's app credentials. The Stratus operator must "
    "check M365_CLIENT_ID and M365_CLIENT_SECRET.",
    "unauthorized_client": "Stratus's app is not registered for this kind of sign-in. The "
    "Stratus operator must check the app registration.",
    "invalid_grant": "The sign-in expired or was already used. Please start again.",
}


def plain_words(error: str, description: str = "") -> str:
    """What an OAuth error from Microsoft means, in words an admin understands."""
    reason = (description or "").splitlines()[0].strip() if description else ""
    text = _PLAIN_WORDS.get(error) or "Microsoft 365 could not complete the sign-in."
    if reason:
        text += f" Microsoft said: {reason}"
    return text


def auth_code_flow_start(
    config: GraphConfig,
    *,
    redirect_uri: str,
    tenant: str = "organizations",
    login_hint: str | None = None,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """Begin the authorization code flow with PKCE. Returns MSAL's flow (state, nonce,
    code verifier and `auth_uri`); keep it server-side until the callback."""
    app = _confidential_app(config, tenant, session=session or session_for(config))
    return app.initiate_auth_code_flow(
        DELEGATED_SCOPES, redirect_uri=redirect_uri, prompt="select_account", login_hint=login_hint
    )


def auth_code_flow_finish(
    config: GraphConfig,
    *,
    flow: dict[str, Any],
    params: dict[str, str],
    tenant: str = "organizations",
    session: requests.Session | None = None,
) -> tuple[dict, str]:
    """Redeem the code. Returns (id token claims, serialized token cache)."""
    if params.get("error"):
        raise ConnectError(
            plain_words(params["error"], params.get("error_description", "")), code=params["error"]
        )
    cache = msal.SerializableTokenCache()
    app = _confidential_app(config, tenant, session=session or session_for(config), cache=cache)
    try:
        result = app.acquire_token_by_auth_code_flow(flow, params, scopes=DELEGATED_SCOPES)
    except ValueError:  # state mismatch or a tampered flow
        raise ConnectError(
            "This sign-in does not belong to your session. Please start again.",
            code="state_mismatch",
        ) from None
    except requests.RequestException as exc:
        raise ConnectError(
            f"Could not reach Microsoft sign-in ({type(exc).__name__}). Please try again.",
            code="unreachable",
        ) from None
    if "error" in result:
        raise ConnectError(
            plain_words(result["error"], result.get("error_description", "")), code=result["error"]
        )
    return result.get("id_token_claims") or {}, cache.serialize()


def admin_consent_url(
    config: GraphConfig, *, redirect_uri: str, state: str, tenant: str = "organizations"
) -> str:
    """The v2 admin-consent URL that grants Stratus's application permissions."""
    query = urlencode(
        {
            "client_id": config.client_id,
            "scope": GRAPH_SCOPE,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{config.login_url}/{tenant}/v2.0/adminconsent?{query}"
