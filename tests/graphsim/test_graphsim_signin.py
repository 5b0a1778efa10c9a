"""Entra sign-in side: the real MSAL client, tokens, consent and every AADSTS error."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest
from conftest import ADMIN_PASSWORD, STRONG_PASSWORD

GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
REDIRECT = "http://localhost:8400/callback"


def cca(world, secret=None, tenant=None):
    return msal.ConfidentialClientApplication(
        world.app["clientId"],
        client_credential=secret or world.app["secret"],
        authority=world.sim.authority(tenant or world.tid),
        instance_discovery=False,
        http_client=world.sim.session(),
    )


def token_post(world, tenant=None, **data):
    return world.session.post(
        f"{world.sim.base_url}/{tenant or world.tid}/oauth2/v2.0/token", data=data, timeout=10
    )


def sign_in(world, auth_uri: str, login: str, password: str):
    """Drive the HTML sign-in form (and the consent page, if shown) over plain HTTP."""
    page = world.session.post(
        auth_uri, data={"login": login, "passwd": password}, allow_redirects=False, timeout=10
    )
    if page.status_code == 200 and 'name="pending"' in page.text:
        pending = re.search(r'name="pending" value="([^"]+)"', page.text).group(1)
        action = urlsplit(auth_uri).path
        page = world.session.post(
            f"{world.sim.base_url}{action}",
            allow_redirects=False,
            data={"client_id": world.app["clientId"], "pending": pending, "consent": "accept"},
            timeout=10,
        )
    return page


def redirect_params(response) -> dict:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_msal_gets_an_app_only_token_with_graph_claims(world):
    app = cca(world)
    result = app.acquire_token_for_client(GRAPH_DEFAULT)
    assert result["token_source"] == "identity_provider"
    assert result["expires_in"] == 3599 and "scope" not in result
    again = app.acquire_token_for_client(GRAPH_DEFAULT)
    assert again["token_source"] == "cache"
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == world.tid and claims["appid"] == world.app["clientId"]
    assert claims["idtyp"] == "app" and "scp" not in claims
    assert "User.ReadWrite.All" in claims["roles"]
    assert "fe930be7-5e62-47db-91af-98c3a49a38b1" in claims["wids"]  # User Administrator


def test_token_signature_verifies_against_published_keys(world):
    keys = world.session.get(f"{world.sim.base_url}/{world.tid}/discovery/v2.0/keys").json()
    jwk = keys["keys"][0]
    public = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
    claims = jwt.decode(
        world.token, public, algorithms=["RS256"], audience="https://graph.microsoft.com"
    )
    assert claims["iss"] == f"https://sts.windows.net/{world.tid}/"
    assert jwt.get_unverified_header(world.token)["kid"] == jwk["kid"]


def test_discovery_points_at_this_server_for_guid_domain_and_organizations(world):
    base = world.sim.base_url
    for name in (world.tid, world.domain):
        doc = world.session.get(f"{base}/{name}/v2.0/.well-known/openid-configuration").json()
        assert doc["token_endpoint"] == f"{base}/{world.tid}/oauth2/v2.0/token"
        assert doc["issuer"] == f"{base}/{world.tid}/v2.0"
    doc = world.session.get(f"{base}/organizations/v2.0/.well-known/openid-configuration").json()
    assert doc["authorization_endpoint"] == f"{base}/organizations/oauth2/v2.0/authorize"
    assert doc["issuer"] == f"{base}/{{tenantid}}/v2.0"


def test_unknown_tenant_fails_discovery_and_token(world):
    with pytest.raises(ValueError):
        cca(world, tenant="nowhere.example")
    response = token_post(
        world,
        tenant="nowhere.example",
        grant_type="client_credentials",
        client_id=world.app["clientId"],
        client_secret=world.app["secret"],
        scope=GRAPH_DEFAULT[0],
    )
    body = response.json()
    assert response.status_code == 400
    assert body["error"] == "invalid_request" and body["error_codes"] == [90002]
    assert body["error_description"].startswith(
        "AADSTS90002: Tenant 'nowhere.example' not found. Check to make sure you have the "
        "correct tenant ID and are signing into the correct cloud."
    )
    assert "\r\nTrace ID: " in body["error_description"]
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=90002"


def test_wrong_secret_is_invalid_client_7000215(world):
    result = cca(world, secret="not-the-secret").acquire_token_for_client(GRAPH_DEFAULT)
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith(
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
        f"request is the client secret value, not the client secret ID, for a secret added to "
        f"app '{world.app['clientId']}'."
    )


def test_unknown_client_is_unauthorized_client_700016(world):
    response = token_post(
        world,
        grant_type="client_credentials",
        client_id="0000-nope",
        client_secret="x",
        scope=GRAPH_DEFAULT[0],
    )
    body = response.json()
    assert response.status_code == 400 and body["error"] == "unauthorized_client"
    assert body["error_description"].startswith(
        f"AADSTS700016: Application with identifier '0000-nope' was not found in the directory "
        f"'{world.tid}'."
    )


def test_app_without_consent_in_tenant_is_700016_and_consent_without_roles_gets_no_roles(
    world, sim
):
    stranger = sim.control.register_app(display_name="not consented")
    response = token_post(
        world,
        grant_type="client_credentials",
        client_id=stranger["clientId"],
        client_secret=stranger["secret"],
        scope=GRAPH_DEFAULT[0],
    )
    assert response.json()["error_codes"] == [700016]
    sim.control.grant(world.tid, stranger["clientId"])
    token = sim.control.app_token(world.tid, stranger["clientId"], stranger["secret"])
    assert "roles" not in jwt.decode(token, options={"verify_signature": False})
    denied = world.get("users", token=token)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "Authorization_RequestDenied"
    assert denied.json()["error"]["message"] == (
        "Insufficient privileges to complete the operation."
    )


def test_bad_scope_is_invalid_scope_70011(world):
    response = token_post(
        world,
        grant_type="client_credentials",
        client_id=world.app["clientId"],
        client_secret=world.app["secret"],
        scope="https://foo.microsoft.com/.default",
    )
    assert response.json()["error"] == "invalid_scope"
    assert response.json()["error_description"].startswith(
        "AADSTS70011: The provided value for the input parameter 'scope' is not valid. The "
        "scope https://foo.microsoft.com/.default is not valid."
    )


def test_msal_auth_code_flow_with_pkce_consent_and_silent_refresh(world):
    app = cca(world)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT)
    page = world.session.get(flow["auth_uri"], timeout=10)
    assert page.status_code == 200 and 'name="login"' in page.text and 'name="passwd"' in page.text
    params = redirect_params(sign_in(world, flow["auth_uri"], world.admin_upn, ADMIN_PASSWORD))
    assert params["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" in result, result
    assert result["id_token_claims"]["aud"] == world.app["clientId"]
    assert result["id_token_claims"]["preferred_username"] == world.admin_upn
    assert "refresh_token" in result and "client_info" in result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["scp"] == "User.Read" and claims["upn"] == world.admin_upn
    me = world.get("me", token=result["access_token"])
    assert me.status_code == 200 and me.json()["userPrincipalName"] == world.admin_upn

    account = app.get_accounts()[0]
    refreshed = app.acquire_token_silent(["User.Read"], account=account, force_refresh=True)
    assert refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != result["access_token"]


def _signed_in_user(world, alias):
    world.sim.control.admin_create_user(
        world.tid, f"{alias}@{world.domain}", password=STRONG_PASSWORD, givenName="Pat"
    )
    world.sim.control.grant(world.tid, world.app["clientId"], delegated_permissions=["User.Read"])
    app = cca(world)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT)
    params = redirect_params(
        sign_in(world, flow["auth_uri"], f"{alias}@{world.domain}", STRONG_PASSWORD)
    )
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert "refresh_token" in result
    return app, app.get_accounts()[0]


@pytest.mark.parametrize(
    "change, code, message",
    [
        (
            "password",
            50173,
            "AADSTS50173: The provided grant has expired due to it being revoked, a "
            "fresh auth token is needed. The user might have changed or reset their "
            "password.",
        ),
        ("revoke", 50173, "AADSTS50173: The provided grant has expired due to it being revoked"),
        ("block", 50057, "AADSTS50057: The user account is disabled."),
        ("delete", 50034, "AADSTS50034: The user account "),
    ],
)
def test_refresh_token_stops_working_after_user_changes(world, change, code, message):
    alias = f"pat{change}"
    app, account = _signed_in_user(world, alias)
    upn = f"{alias}@{world.domain}"
    control = world.sim.control
    {
        "password": lambda: control.admin_set_password(world.tid, upn, "An0ther-Str0ng-Pw!"),
        "revoke": lambda: control.admin_revoke_sessions(world.tid, upn),
        "block": lambda: control.admin_block(world.tid, upn),
        "delete": lambda: control.admin_delete_user(world.tid, upn),
    }[change]()
    result = app.acquire_token_silent_with_error(["User.Read"], account=account, force_refresh=True)
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(message)


CONSENT_MISSING = (
    "AADSTS65001: The user or administrator has not consented to use the application with ID "
)


def test_refresh_token_is_refused_once_the_apps_grant_is_deleted(world):
    app, account = _signed_in_user(world, "patgrant")
    world.sim.control.revoke_grant(world.tid, world.app["clientId"])

    result = app.acquire_token_silent_with_error(["User.Read"], account=account, force_refresh=True)

    assert result["error"] == "invalid_grant" and result["error_codes"] == [65001]
    assert result["suberror"] == "consent_required"
    assert result["error_description"].startswith(CONSENT_MISSING + f"'{world.app['clientId']}'")


def test_refresh_token_is_refused_for_a_permission_no_longer_consented(world):
    app, account = _signed_in_user(world, "patnarrow")
    world.sim.control.grant(
        world.tid, world.app["clientId"], delegated_permissions=["Mail.Read"], replace=True
    )

    result = app.acquire_token_silent_with_error(["User.Read"], account=account, force_refresh=True)

    assert result["error"] == "invalid_grant" and result["error_codes"] == [65001]

    # Consent restored: the same refresh token works again. (Asked over plain HTTP: this
    # MSAL client would replay its cached 400 for 60 s.)
    world.sim.control.grant(world.tid, world.app["clientId"], delegated_permissions=["User.Read"])
    [refresh] = app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)
    again = token_post(
        world,
        grant_type="refresh_token",
        client_id=world.app["clientId"],
        client_secret=world.app["secret"],
        refresh_token=refresh["secret"],
        scope="User.Read offline_access",
    )
    assert again.status_code == 200 and "access_token" in again.json()


def test_sign_in_page_rejects_wrong_password_and_blocked_user(world):
    control = world.sim.control
    control.admin_create_user(world.tid, f"kim@{world.domain}", password=STRONG_PASSWORD)
    flow = cca(world).initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT)
    wrong = sign_in(world, flow["auth_uri"], f"kim@{world.domain}", "Wrong-Passw0rd!")
    assert wrong.status_code == 200 and 'data-code="AADSTS50126"' in wrong.text
    assert "Error validating credentials due to invalid username or password." in html.unescape(
        wrong.text
    )
    control.admin_block(world.tid, f"kim@{world.domain}")
    blocked = sign_in(world, flow["auth_uri"], f"kim@{world.domain}", STRONG_PASSWORD)
    assert 'data-code="AADSTS50057"' in blocked.text
    assert "The user account is disabled." in blocked.text


def test_authorize_rejects_unregistered_redirect_uri(world):
    flow = cca(world).initiate_auth_code_flow(["User.Read"], redirect_uri="https://evil.example/cb")
    page = world.session.get(flow["auth_uri"], timeout=10)
    assert page.status_code == 400
    assert (
        "AADSTS50011: The redirect URI 'https://evil.example/cb' specified in the request "
        "does not match the redirect URIs configured for the application "
        f"'{world.app['clientId']}'."
    ) in html.unescape(page.text)


def test_code_is_single_use_and_must_be_valid(world):
    app = cca(world)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT)
    params = redirect_params(sign_in(world, flow["auth_uri"], world.admin_upn, ADMIN_PASSWORD))
    base = {
        "client_id": world.app["clientId"],
        "client_secret": world.app["secret"],
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT,
        "code_verifier": flow["code_verifier"],
    }
    first = token_post(world, code=params["code"], **base)
    assert first.status_code == 200 and "access_token" in first.json()
    second = token_post(world, code=params["code"], **base).json()
    assert second["error"] == "invalid_grant" and second["error_codes"] == [54005]
    assert second["error_description"].startswith(
        "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new "
        "valid code or use an existing refresh token."
    )
    bogus = token_post(world, code="bogus", **base).json()
    assert bogus["error_codes"] == [70000]
    assert bogus["error_description"].startswith(
        "AADSTS70000: The provided value for the 'code' parameter is not valid."
    )


def test_pkce_verifier_must_match(world):
    app = cca(world)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT)
    params = redirect_params(sign_in(world, flow["auth_uri"], world.admin_upn, ADMIN_PASSWORD))
    body = token_post(
        world,
        code=params["code"],
        client_id=world.app["clientId"],
        client_secret=world.app["secret"],
        grant_type="authorization_code",
        redirect_uri=REDIRECT,
        code_verifier="x" * 43,
    ).json()
    assert body["error_codes"] == [501481]


def test_admin_consent_grants_the_apps_application_permissions(world, sim):
    app = sim.control.register_app(
        display_name="Consent me",
        redirect_uris=[REDIRECT],
        application_permissions=["User.Read.All"],
    )
    url = (
        f"{sim.base_url}/organizations/adminconsent?client_id={app['clientId']}"
        f"&redirect_uri={REDIRECT}&state=12345"
    )
    page = world.session.get(url, timeout=10)
    assert 'name="login"' in page.text
    consent = world.session.post(
        url, data={"login": world.admin_upn, "passwd": ADMIN_PASSWORD}, timeout=10
    )
    assert "User.Read.All" in consent.text
    pending = re.search(r'name="pending" value="([^"]+)"', consent.text).group(1)
    done = world.session.post(
        f"{sim.base_url}/organizations/adminconsent",
        allow_redirects=False,
        data={"client_id": app["clientId"], "pending": pending, "consent": "accept"},
        timeout=10,
    )
    assert redirect_params(done) == {"admin_consent": "True", "tenant": world.tid, "state": "12345"}
    token = sim.control.app_token(world.tid, app["clientId"], app["secret"])
    assert jwt.decode(token, options={"verify_signature": False})["roles"] == ["User.Read.All"]


def test_admin_consent_by_non_admin_is_refused(world, sim):
    sim.control.admin_create_user(world.tid, f"joe@{world.domain}", password=STRONG_PASSWORD)
    url = (
        f"{sim.base_url}/{world.tid}/adminconsent?client_id={world.app['clientId']}"
        f"&redirect_uri={REDIRECT}&state=s1"
    )
    done = world.session.post(
        url, data={"login": f"joe@{world.domain}", "passwd": STRONG_PASSWORD}, allow_redirects=False
    )
    params = redirect_params(done)
    assert params["error"] == "consent_required" and params["state"] == "s1"
    assert params["error_description"].startswith("AADSTS65004")


@pytest.mark.parametrize(
    "header, message",
    [
        (None, "Access token is empty."),
        ("Bearer not-a-jwt", "CompactToken parsing failed with error code: 80049217"),
    ],
)
def test_graph_rejects_missing_and_garbage_tokens(world, header, message):
    headers = {"Authorization": header} if header else {"Authorization": ""}
    response = world.session.get(world.url("users"), headers=headers)
    body = response.json()
    assert response.status_code == 401
    assert body["error"]["code"] == "InvalidAuthenticationToken"
    assert body["error"]["message"] == message
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm=""')
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", body["error"]["innerError"]["date"])


def test_graph_rejects_token_signed_by_someone_else(world):
    from cryptography.hazmat.primitives.asymmetric import rsa

    claims = jwt.decode(world.token, options={"verify_signature": False})
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, key, algorithm="RS256")
    response = world.get("users", token=forged)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Access token validation failure."
