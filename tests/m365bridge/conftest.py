"""graphsim for the Microsoft 365 tests: one real HTTPS server per test session, the
Stratus app registered in it, and helpers that drive its sign-in pages over HTTP the
way an admin's browser would."""

import re
import secrets
import uuid
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

from m365bridge.capabilities import APPLICATION_PERMISSIONS
from m365bridge.graph import GraphConfig
from m365bridge.graph.auth import DELEGATED_SCOPES

BASE_URL = "http://testserver"
REDIRECT_URI = f"{BASE_URL}/console/m365/callback/"


@pytest.fixture(scope="session")
def graphsim_server():
    from graphsim.testing import running_graphsim

    with running_graphsim() as sim:
        yield sim


@pytest.fixture(scope="session")
def stratus_app(graphsim_server):
    """Stratus's multi-tenant app registration, as in Entra ID."""
    secret = f"stratus-secret-{secrets.token_urlsafe(16)}"
    return graphsim_server.control.register_app(
        display_name="Stratus",
        redirect_uris=[REDIRECT_URI],
        secret=secret,
        application_permissions=APPLICATION_PERMISSIONS,
        delegated_permissions=DELEGATED_SCOPES,
    )


@pytest.fixture
def config(graphsim_server, stratus_app):
    """Stratus's Graph settings for graphsim (no Django needed)."""
    return GraphConfig(
        client_id=stratus_app["clientId"],
        client_secret=stratus_app["secret"],
        login_url=graphsim_server.base_url,
        graph_url=graphsim_server.base_url,
        ca_bundle=graphsim_server.ca_path,
        max_retries=3,
        max_retry_wait=20,
    )


@pytest.fixture
def m365(settings, graphsim_server, stratus_app):
    """Point Stratus at graphsim, exactly as production points at Microsoft."""
    settings.M365_CLIENT_ID = stratus_app["clientId"]
    settings.M365_CLIENT_SECRET = stratus_app["secret"]
    settings.M365_LOGIN_URL = graphsim_server.base_url
    settings.M365_GRAPH_URL = graphsim_server.base_url
    settings.M365_CA_BUNDLE = graphsim_server.ca_path
    settings.BASE_URL = BASE_URL
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return graphsim_server


def unique_domain(prefix="contoso") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}.example"


@pytest.fixture
def ms_tenant(m365):
    """A fresh emulated Microsoft 365 tenant with a Global Administrator and users."""
    domain = unique_domain()
    created = m365.control.create_tenant(
        display_name="Contoso", domains=[domain], users=5, user_password="Us3r-Passw0rd!"
    )
    upn, admin = next(iter(created["admins"].items()))
    return {
        "id": created["id"],
        "domain": domain,
        "admin": upn,
        "password": admin["password"],
        "raw": created,
    }


# --- a browser, as far as graphsim's plain HTML forms need one -----------------------------


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms, self._current = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = {"action": attrs.get("action", ""), "fields": {}, "buttons": []}
            self.forms.append(self._current)
        elif self._current is not None and tag == "input" and attrs.get("name"):
            self._current["fields"][attrs["name"]] = attrs.get("value") or ""
        elif self._current is not None and tag == "button" and attrs.get("name"):
            self._current["buttons"].append((attrs["name"], attrs.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def _submit(session, page_url, html, **values):
    parser = _Forms()
    parser.feed(html)
    assert parser.forms, f"no form on the page: {html[:300]}"
    form = parser.forms[0]
    fields = {**form["fields"], **values}
    return session.post(
        urljoin(page_url, form["action"]), data=fields, allow_redirects=False, timeout=30
    )


def sign_in_at_microsoft(sim, url, *, login, password, consent="accept"):
    """Follow Microsoft's sign-in (and consent, if asked) for `url`; return the query of
    the redirect back to Stratus as a dict."""
    session = sim.session()
    response = session.get(url, allow_redirects=False, timeout=30)
    assert response.status_code == 200, response.text[:300]
    response = _submit(session, url, response.text, login=login, passwd=password)
    if response.status_code == 200 and 'name="consent"' in response.text:
        response = _submit(session, url, response.text, consent=consent)
    assert response.status_code in (302, 303), response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI), location
    return dict(parse_qsl(urlsplit(location).query))


def connect_tenant(
    client, sim, tenant, *, mode="application", login=None, password=None, consent="accept"
):
    """Click "Connect Microsoft 365" in the console, sign in at graphsim, come back."""
    response = client.post("/console/m365/connect/", {"mode": mode})
    assert response.status_code == 302, response.content[:500]
    params = sign_in_at_microsoft(
        sim,
        response["Location"],
        login=login or tenant["admin"],
        password=password or tenant["password"],
        consent=consent,
    )
    return client.get("/console/m365/callback/", params)


def tenant_pk_from(response) -> int:
    match = re.match(r"^/console/m365/(\d+)/$", response["Location"])
    assert match, response["Location"]
    return int(match.group(1))
