"""Shared set-up of the provisioning tests: an emulated tenant in graphsim that Stratus
may write to (application permissions and the User Administrator role), its Stratus
row, employees on its domain, and a way to run the worker's sync in this process."""

import json
from urllib.parse import urlencode

import pytest

from directory import services as directory_services
from m365bridge.capabilities import APPLICATION_PERMISSIONS
from m365bridge.graph.client import GraphClient
from m365bridge.sync import intent, runner

from .conftest import REDIRECT_URI, _submit, unique_domain
from .factories import TenantDomainFactory, TenantFactory

EMPLOYEE_PASSWORD = "Kx7#mWq2-Lp9zR"


@pytest.fixture
def queued(monkeypatch):
    """Sync tasks the code sends (tenant ids); nothing reaches a broker."""
    sent = []

    def record(*, tenant_id, countdown=None):
        sent.append(tenant_id)

    monkeypatch.setattr(intent, "sync_send", record)
    monkeypatch.setattr(runner, "sync_send", record)
    return sent


@pytest.fixture
def ms(m365, stratus_app):
    domain = unique_domain()
    created = m365.control.create_tenant(display_name="Contoso", domains=[domain])
    m365.control.grant(
        created["id"],
        stratus_app["clientId"],
        application_permissions=APPLICATION_PERMISSIONS,
        directory_roles=["User Administrator"],
    )
    return {
        "id": created["id"],
        "domain": domain,
        "control": m365.control,
        "sim": m365,
        "client_id": stratus_app["clientId"],
    }


@pytest.fixture
def tenant(acme, alice, ms, queued):
    row = TenantFactory(organization=acme, microsoft_tenant_id=ms["id"], connected_by=alice)
    TenantDomainFactory(tenant=row, name=ms["domain"], is_default=True)
    return row


@pytest.fixture
def sent_batches(monkeypatch):
    """Every `$batch` item Stratus sends, as (method, url, body), recorded on the way
    out (the requests still go to graphsim)."""
    sent = []
    original = GraphClient.batch

    def recording(self, requests_, **options):
        sent.extend((r.method, r.url, json.loads(json.dumps(r.body))) for r in requests_)
        return original(self, requests_, **options)

    monkeypatch.setattr(GraphClient, "batch", recording)
    return sent


def employee(acme, alice, ms, name, **attrs):
    attrs.setdefault("first_name", name.capitalize())
    attrs.setdefault("last_name", "Example")
    return directory_services.user_create(
        actor=alice,
        organization=acme,
        email=f"{name}@{ms['domain']}",
        send_activation=False,
        **attrs,
    )


def sync(tenant):
    return runner.tenant_sync(tenant_id=tenant.pk, time_limit=60)


def log_mark(ms) -> int:
    rows = ms["control"].request_log(ms["id"], limit=100000)
    return rows[-1]["id"] if rows else 0


def graph_log(ms, since) -> list[dict]:
    """Graph requests (batch items included) since `since`, without the outer $batch."""
    return [
        row
        for row in ms["control"].request_log(ms["id"], since=since, limit=100000)
        if row["note"] != "batch" and row["note"] != "login"
    ]


def account(ms, upn) -> dict:
    return ms["control"].admin_get_user(ms["id"], upn)


def can_sign_in(ms, upn, password) -> bool:
    """Sign in at graphsim's Microsoft sign-in page as the employee would."""
    sim = ms["sim"]
    query = urlencode(
        {
            "client_id": ms["client_id"],
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "state": "s",
        }
    )
    url = f"{sim.base_url}/{ms['id']}/oauth2/v2.0/authorize?{query}"
    session = sim.session()
    page = session.get(url, allow_redirects=False, timeout=30)
    response = _submit(session, url, page.text, login=upn, passwd=password)
    return response.status_code in (302, 303)
