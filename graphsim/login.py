"""Entra ID v2 sign-in endpoints: discovery, keys, authorize (HTML), token, adminconsent.

The HTML pages are deliberately plain forms so tests can drive them with plain
HTTP POSTs; the field names are documented in README.md.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from graphsim import errors, roles
from graphsim.errors import AuthError
from graphsim.passwords import check_password
from graphsim.tokens import GRAPH_APP_ID, client_info, graph_claims, id_token_claims

GRAPH_RESOURCE = "https://graph.microsoft.com"
OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
CODE_SECONDS = 600
MULTI = ("common", "organizations")


def _now_entra() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _entra_date(ts: float) -> str:
    """Entra prints grant dates with seven fractional digits."""
    stamp = datetime.fromtimestamp(ts, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond:06d}0Z"


def origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def auth_error_response(err: AuthError, correlation_id: str | None = None) -> JSONResponse:
    trace, correlation = str(uuid.uuid4()), correlation_id or str(uuid.uuid4())
    stamp = _now_entra()
    body = {
        "error": err.error,
        "error_description": f"AADSTS{err.aadsts}: {err.description}\r\nTrace ID: {trace}\r\n"
        f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
        "error_codes": [err.aadsts],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={err.aadsts}",
    }
    if err.suberror:
        body["suberror"] = err.suberror
    return JSONResponse(
        body,
        status_code=err.status,
        headers={
            "Cache-Control": "no-store, no-cache",
            "Pragma": "no-cache",
            "x-ms-request-id": trace,
            "client-request-id": correlation,
        },
    )


class Login:
    def __init__(self, sim):
        self.sim = sim
        self.state = sim.state
        self.pending: dict[str, dict] = {}

    # -- lookups -------------------------------------------------------------------
    def resolve_tenant(self, name: str):
        """The tenant for a path segment; None for common/organizations."""
        if name.lower() in MULTI:
            return None
        tenant = self.state.find_tenant(name)
        if tenant is None:
            raise errors.tenant_not_found(name)
        return tenant

    def find_app(self, client_id: str | None, tenant_label: str) -> dict:
        app = self.state.apps.get(client_id or "")
        if app is None:
            raise errors.unknown_client(client_id or "", tenant_label)
        return app

    @staticmethod
    def grant_for(tenant, client_id: str) -> dict | None:
        return tenant.info["grants"].get(client_id)

    # -- discovery and keys --------------------------------------------------------
    async def openid_configuration(self, request: Request) -> Response:
        name = request.path_params["tenant"]
        try:
            tenant = self.resolve_tenant(name)
        except AuthError as err:
            err.error = "invalid_tenant"
            return auth_error_response(err)
        base = origin(request)
        segment = tenant.id if tenant else name.lower()
        issuer = f"{base}/{tenant.id}/v2.0" if tenant else f"{base}/{{tenantid}}/v2.0"
        doc = {
            "token_endpoint": f"{base}/{segment}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/{segment}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/{segment}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{segment}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{segment}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{base}/{segment}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        return JSONResponse(doc, headers={"Cache-Control": "max-age=86400, private"})

    async def keys(self, request: Request) -> Response:
        return JSONResponse(
            self.sim.signer.jwks(), headers={"Cache-Control": "max-age=86400, private"}
        )

    async def instance_discovery(self, request: Request) -> Response:
        base = origin(request)
        return JSONResponse(
            {
                "tenant_discovery_endpoint": f"{base}/common/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [
                    {
                        "preferred_network": request.url.hostname,
                        "preferred_cache": request.url.hostname,
                        "aliases": [request.url.hostname],
                    }
                ],
            }
        )

    # -- token endpoint ------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        form = dict(await request.form())
        correlation = request.headers.get("client-request-id")
        tenant_name = request.path_params["tenant"]
        tenant = None
        try:
            tenant = self.resolve_tenant(tenant_name)
            client_id, secret = self._client_credentials(request, form)
            app = self.find_app(client_id, tenant.id if tenant else tenant_name)
            if secret is None:
                raise errors.missing_secret()
            if not secrets.compare_digest(secret, app["secret"]):
                raise errors.wrong_secret(client_id)
            grant_type = form.get("grant_type", "")
            if grant_type == "client_credentials":
                body = self._client_credentials_grant(tenant, tenant_name, app, form)
            elif grant_type == "authorization_code":
                body, tenant = self._code_grant(tenant, app, form, origin(request))
            elif grant_type == "refresh_token":
                body, tenant = self._refresh_grant(tenant, app, form)
            else:
                raise errors.unsupported_grant(grant_type)
            response = JSONResponse(
                body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
            )
        except AuthError as err:
            response = auth_error_response(err, correlation)
        if tenant is not None:
            self.sim.log_login(tenant.id, request, response.status_code, form.get("client_id"))
        return response

    @staticmethod
    def _client_credentials(request: Request, form: dict) -> tuple[str | None, str | None]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
                client_id, _, secret = decoded.partition(":")
                return client_id, secret
            except ValueError:
                pass
        return form.get("client_id"), form.get("client_secret")

    def _client_credentials_grant(self, tenant, tenant_name: str, app: dict, form: dict) -> dict:
        if tenant is None:
            raise AuthError(
                "invalid_request",
                50059,
                "No tenant-identifying information found in either the request or "
                "implied by any provided credentials.",
            )
        scope = form.get("scope", "")
        if scope not in (
            f"{GRAPH_RESOURCE}/.default",
            f"{GRAPH_APP_ID}/.default",
            f"{GRAPH_RESOURCE}//.default",
        ):
            raise errors.invalid_scope(scope)
        grant = self.grant_for(tenant, app["clientId"])
        if grant is None and app.get("homeTenantId") != tenant.id:
            raise errors.unknown_client(app["clientId"], tenant.id)
        grant = grant or {
            "spId": app["clientId"],
            "applicationPermissions": [],
            "directoryRoles": [],
        }
        claims = graph_claims(
            tenant_id=tenant.id,
            app=app,
            oid=grant["spId"],
            roles=sorted(grant.get("applicationPermissions") or []),
            wids=[*grant.get("directoryRoles", []), roles.DEFAULT_APP_WID],
        )
        # No `scope` key: MSAL would cache under it and miss later .default lookups.
        return {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": self.sim.signer.sign(claims),
        }

    def _code_grant(self, tenant, app: dict, form: dict, base: str):
        code = self.state.tokens.get(f"code:{form.get('code', '')}")
        if code is None or code["client_id"] != app["clientId"]:
            raise errors.invalid_code()
        if code["used"]:
            raise errors.code_redeemed()
        if time.time() - code["created"] > CODE_SECONDS:
            raise AuthError(
                "invalid_grant",
                70008,
                "The provided authorization code or refresh "
                "token has expired due to inactivity. Send a new interactive "
                "authorization request for this user and resource.",
            )
        if form.get("redirect_uri") != code["redirect_uri"]:
            raise errors.redirect_mismatch(form.get("redirect_uri", ""), app["clientId"])
        if code.get("challenge"):
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .decode()
                .rstrip("=")
            )
            expected = verifier if code.get("method") == "plain" else digest
            if expected != code["challenge"]:
                raise errors.pkce_mismatch()
        code["used"] = True
        self.state.save_token(f"code:{form['code']}", code)
        owner = self.state.tenants.get(code["tenant_id"])
        if owner is None or (tenant is not None and tenant.id != owner.id):
            raise errors.invalid_code()
        user = owner.users.get(code["user_id"])
        if user is None:
            raise errors.user_missing(code["user_id"], owner.id)
        body = self._delegated_tokens(
            owner, app, user, code["scopes"], code["auth_time"], code.get("prefixed", False)
        )
        if "openid" in code["scopes"]:
            body["id_token"] = self.sim.signer.sign(
                id_token_claims(
                    issuer=f"{base}/{owner.id}/v2.0",
                    tenant_id=owner.id,
                    client_id=app["clientId"],
                    user=user,
                    nonce=code.get("nonce"),
                )
            )
        return body, owner

    def _refresh_grant(self, tenant, app: dict, form: dict):
        record = self.state.tokens.get(f"rt:{form.get('refresh_token', '')}")
        if record is None:
            raise errors.invalid_refresh_token()
        if record["client_id"] != app["clientId"]:
            raise AuthError(
                "invalid_grant", 70000, "The refresh token was issued to a different client."
            )
        owner = self.state.tenants.get(record["tenant_id"])
        if owner is None or (tenant is not None and tenant.id != owner.id):
            raise errors.invalid_refresh_token()
        user = owner.users.get(record["user_id"])
        if user is None:
            raise errors.user_missing(record["upn"], owner.id)
        if not user.get("accountEnabled"):
            raise errors.user_disabled()
        if record["auth_time"] < user.get("_tokensValidFrom", 0):
            raise errors.revoked_grant(
                _entra_date(record["auth_time"]), _entra_date(user["_tokensValidFrom"])
            )
        requested = self.split_scopes(form.get("scope", ""))
        scopes = (
            [s for s in record["scopes"] if s in requested or s in OIDC_SCOPES]
            if requested - OIDC_SCOPES
            else record["scopes"]
        )
        self._require_consent(owner, app, scopes)
        return self._delegated_tokens(
            owner, app, user, scopes, record["auth_time"], record.get("prefixed", False)
        ), owner

    def _require_consent(self, tenant, app: dict, scopes: list) -> None:
        """A refresh token is only as good as the consent behind it: once the grant is
        deleted (or narrowed), Entra refuses it with AADSTS65001, `consent_required`."""
        grant = self.grant_for(tenant, app["clientId"]) or {}
        consented = set(grant.get("delegatedPermissions") or [])
        if any(s not in OIDC_SCOPES and s not in consented for s in scopes):
            raise errors.consent_missing(
                app["clientId"], app.get("displayName", ""), suberror="consent_required"
            )

    def _delegated_tokens(
        self, tenant, app: dict, user: dict, scopes: list, auth_time: float, prefixed: bool
    ) -> dict:
        """Scopes are echoed in the style the client asked for, so MSAL's cache matches."""
        resource_scopes = [s for s in scopes if s not in OIDC_SCOPES]
        prefix = f"{GRAPH_RESOURCE}/" if prefixed else ""
        claims = graph_claims(
            tenant_id=tenant.id,
            app=app,
            oid=user["id"],
            scp=" ".join(resource_scopes),
            user=user,
            wids=[*user.get("_roles", []), roles.DEFAULT_USER_WID],
        )
        body = {
            "token_type": "Bearer",
            "scope": " ".join(
                [f"{prefix}{s}" for s in resource_scopes] + [s for s in scopes if s in OIDC_SCOPES]
            ),
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": self.sim.signer.sign(claims),
            "client_info": client_info(user["id"], tenant.id),
        }
        if "offline_access" in scopes:
            refresh = secrets.token_urlsafe(48)
            self.state.save_token(
                f"rt:{refresh}",
                {
                    "client_id": app["clientId"],
                    "tenant_id": tenant.id,
                    "user_id": user["id"],
                    "upn": user["userPrincipalName"],
                    "scopes": scopes,
                    "auth_time": auth_time,
                    "prefixed": prefixed,
                },
            )
            body["refresh_token"] = refresh
        return body

    @staticmethod
    def split_scopes(text: str) -> set[str]:
        scopes = set()
        for scope in text.split():
            for prefix in (f"{GRAPH_RESOURCE}/", f"{GRAPH_APP_ID}/"):
                if scope.startswith(prefix):
                    scope = scope[len(prefix) :]
            scopes.add(scope)
        return scopes

    # -- authorize (HTML) ----------------------------------------------------------
    async def authorize(self, request: Request) -> Response:
        params = await self._params(request)
        tenant_name = request.path_params["tenant"]
        try:
            tenant = self.resolve_tenant(tenant_name)
            app = self.find_app(params.get("client_id"), tenant.id if tenant else tenant_name)
            redirect_uri = params.get("redirect_uri") or ""
            if redirect_uri not in app.get("redirectUris", []):
                raise errors.redirect_mismatch(redirect_uri, app["clientId"])
            requested = self.split_scopes(params.get("scope", ""))
            bad = [s for s in requested if "/" in s or ":" in s]
            if bad:
                return self._redirect_error(params, "invalid_scope", errors.invalid_scope(bad[0]))
        except AuthError as err:
            return self._error_page(err)
        if "consent" in params:
            return self._finish_consent(request, params, app, "authorize")
        if "login" not in params:
            return self._sign_in_page(request.url.path, params)
        user, owner, failure = self._sign_in(tenant, params)
        if failure:
            return self._sign_in_page(request.url.path, params, failure)
        scopes = self._wanted_scopes(app, requested)
        grant = self.grant_for(owner, app["clientId"]) or {}
        missing = [
            s
            for s in scopes
            if s not in OIDC_SCOPES and s not in (grant.get("delegatedPermissions") or [])
        ]
        if missing or params.get("prompt") == "consent":
            if not set(user.get("_roles", [])) & roles.CONSENT_ROLES:
                return self._redirect_error(
                    params,
                    "consent_required",
                    errors.consent_missing(app["clientId"], app.get("displayName", "")),
                )
            return self._consent_page(
                request.url.path, params, app, owner, user, scopes, "authorize"
            )
        return self._issue_code(params, app, owner, user, scopes)

    async def _params(self, request: Request) -> dict:
        """Query and form fields; a consent answer inherits the original request's."""
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(dict(await request.form()))
        pending = self.pending.get(params.get("pending", ""))
        if pending is not None:
            params = {**pending["params"], **params}
        return params

    def _wanted_scopes(self, app: dict, requested: set[str]) -> list[str]:
        scopes = set(requested)
        if ".default" in scopes:
            scopes.discard(".default")
            scopes |= set(app.get("delegatedPermissions") or [])
        return sorted(scopes)

    def _sign_in(self, tenant, params: dict):
        """(user, tenant, None) or (None, None, AuthError) for the posted credentials."""
        login = (params.get("login") or "").strip()
        owner = tenant or self.state.find_tenant(login.partition("@")[2] or "-")
        user_id = owner.upns.get(login.lower()) if owner else None
        user = owner.users.get(user_id) if user_id else None
        if user is None:
            return None, None, errors.user_missing(login, tenant.id if tenant else "organizations")
        domain = owner.domain(login.partition("@")[2])
        if domain and domain["type"] == "Federated":
            federation = domain.get("federation") or {}
            provider = federation.get("displayName", "")
            sign_in_uri = federation.get("passiveSignInUri", "")
            return (
                None,
                None,
                AuthError(
                    "invalid_grant",
                    50126,
                    "This user signs in at the federated identity provider "
                    f"{provider} ({sign_in_uri}),"
                    " which graphsim does not emulate.",
                ),
            )
        if not check_password(params.get("passwd") or "", user.get("_password")):
            return None, None, errors.bad_password()
        if not user.get("accountEnabled"):
            return None, None, errors.user_disabled()
        return user, owner, None

    def _issue_code(self, params: dict, app: dict, tenant, user: dict, scopes: list) -> Response:
        code = secrets.token_urlsafe(32)
        self.state.save_token(
            f"code:{code}",
            {
                "client_id": app["clientId"],
                "tenant_id": tenant.id,
                "user_id": user["id"],
                "scopes": scopes,
                "redirect_uri": params["redirect_uri"],
                "challenge": params.get("code_challenge"),
                "method": params.get("code_challenge_method", "plain"),
                "nonce": params.get("nonce"),
                "created": time.time(),
                "used": False,
                "auth_time": time.time(),
                "prefixed": GRAPH_RESOURCE in params.get("scope", ""),
            },
        )
        result = {"code": code}
        if params.get("state") is not None:
            result["state"] = params["state"]
        result["session_state"] = str(uuid.uuid4())
        return self._redirect(params, result)

    def _redirect(self, params: dict, result: dict) -> Response:
        target = params["redirect_uri"]
        if params.get("response_mode") == "form_post":
            fields = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">'
                for k, v in result.items()
            )
            return HTMLResponse(
                f'<html><body onload="document.forms[0].submit()"><form '
                f'method="post" action="{html.escape(target)}">{fields}'
                "<noscript><button>Continue</button></noscript></form></body>"
                "</html>"
            )
        joiner = "&" if "?" in target else "?"
        return RedirectResponse(target + joiner + urlencode(result), status_code=302)

    def _redirect_error(self, params: dict, error: str, err: AuthError) -> Response:
        result = {"error": error, "error_description": f"AADSTS{err.aadsts}: {err.description}"}
        if params.get("state") is not None:
            result["state"] = params["state"]
        return self._redirect(params, result)

    # -- admin consent -------------------------------------------------------------
    async def admin_consent(self, request: Request) -> Response:
        params = await self._params(request)
        tenant_name = request.path_params["tenant"]
        try:
            tenant = self.resolve_tenant(tenant_name)
            app = self.find_app(params.get("client_id"), tenant.id if tenant else tenant_name)
            params.setdefault("redirect_uri", (app.get("redirectUris") or [""])[0])
            if params["redirect_uri"] not in app.get("redirectUris", []):
                raise errors.redirect_mismatch(params["redirect_uri"], app["clientId"])
        except AuthError as err:
            return self._error_page(err)
        if "consent" in params:
            return self._finish_consent(request, params, app, "adminconsent")
        if "login" not in params:
            return self._sign_in_page(request.url.path, params)
        user, owner, failure = self._sign_in(tenant, params)
        if failure:
            return self._sign_in_page(request.url.path, params, failure)
        if not set(user.get("_roles", [])) & roles.CONSENT_ROLES:
            result = {
                "admin_consent": "True",
                "error": "consent_required",
                "error_description": "AADSTS65004: The resource owner or authorization "
                "server denied the request. Admin consent requires an administrator.",
            }
            if params.get("state") is not None:
                result["state"] = params["state"]
            return self._redirect(params, result)
        return self._consent_page(request.url.path, params, app, owner, user, None, "adminconsent")

    def _finish_consent(self, request: Request, params: dict, app: dict, kind: str) -> Response:
        pending = self.pending.pop(params.get("pending", ""), None)
        if pending is None or pending["kind"] != kind or pending["client_id"] != app["clientId"]:
            return self._error_page(
                AuthError("invalid_request", 90015, "Requested consent session was not found.")
            )
        original = pending["params"]
        if params.get("consent") != "accept":
            result = {
                "error": "access_denied" if kind == "authorize" else "permission_denied",
                "error_description": "The admin canceled the request",
            }
            if kind == "adminconsent":
                result["admin_consent"] = "True"
            if original.get("state") is not None:
                result["state"] = original["state"]
            return self._redirect(original, result)
        tenant = self.state.tenants[pending["tenant_id"]]
        user = tenant.users.get(pending["user_id"])
        self.sim.consent(tenant, app, pending["scopes"], kind == "adminconsent")
        if kind == "adminconsent":
            result = {"admin_consent": "True", "tenant": tenant.id}
            if original.get("state") is not None:
                result["state"] = original["state"]
            if original.get("scope"):
                result["scope"] = original["scope"]
            return self._redirect(original, result)
        return self._issue_code(original, app, tenant, user, pending["scopes"])

    # -- pages ---------------------------------------------------------------------
    @staticmethod
    def _hidden(params: dict, skip=("login", "passwd", "consent", "pending")) -> str:
        return "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
            if k not in skip
        )

    def _sign_in_page(self, action: str, params: dict, failure: AuthError | None = None):
        error = ""
        if failure:
            error = (
                f'<p id="error" data-code="AADSTS{failure.aadsts}">AADSTS{failure.aadsts}: '
                f"{html.escape(failure.description)}</p>"
            )
        login = html.escape(params.get("login") or params.get("login_hint") or "")
        page = (
            "<!doctype html><html><head><title>Sign in to your account</title></head><body>"
            "<h1>Sign in</h1><p>graphsim - emulated Microsoft Entra ID</p>"
            + error
            + f'<form method="post" action="{html.escape(action)}">'
            + self._hidden(params)
            + f'<label>Email <input name="login" type="email" value="{login}"></label>'
            '<label>Password <input name="passwd" type="password"></label>'
            '<button type="submit">Sign in</button></form></body></html>'
        )
        return HTMLResponse(page, status_code=200)

    def _consent_page(
        self,
        action: str,
        params: dict,
        app: dict,
        tenant,
        user: dict,
        scopes: list | None,
        kind: str,
    ) -> Response:
        pending = secrets.token_urlsafe(16)
        if scopes is None:
            scopes = sorted(
                set(app.get("delegatedPermissions") or [])
                | {s for s in (app.get("applicationPermissions") or [])}
            )
        self.pending[pending] = {
            "kind": kind,
            "client_id": app["clientId"],
            "tenant_id": tenant.id,
            "user_id": user["id"],
            "scopes": scopes,
            "params": params,
        }
        items = "".join(
            f"<li>{html.escape(s)}</li>"
            for s in (app.get("applicationPermissions") or [] if kind == "adminconsent" else scopes)
        )
        page = (
            "<!doctype html><html><head><title>Permissions requested</title></head><body>"
            f"<h1>Permissions requested</h1><p>{html.escape(app.get('displayName', ''))} "
            f"wants to access {html.escape(tenant.info['displayName'])} on behalf of your "
            f"organization:</p><ul>{items}</ul>"
            f'<form method="post" action="{html.escape(action)}">'
            + self._hidden({"client_id": app["clientId"], "pending": pending}, skip=())
            + '<button type="submit" name="consent" value="accept">Accept</button>'
            '<button type="submit" name="consent" value="cancel">Cancel</button>'
            "</form></body></html>"
        )
        return HTMLResponse(page)

    @staticmethod
    def _error_page(err: AuthError) -> Response:
        page = (
            "<!doctype html><html><head><title>Sign in error</title></head><body>"
            "<h1>Sorry, but we're having trouble signing you in.</h1>"
            f'<p id="error" data-code="AADSTS{err.aadsts}">AADSTS{err.aadsts}: '
            f"{html.escape(err.description)}</p></body></html>"
        )
        return HTMLResponse(page, status_code=400)
