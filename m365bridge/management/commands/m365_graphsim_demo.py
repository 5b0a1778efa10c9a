"""`manage.py m365_graphsim_demo`: prepare a running graphsim for the demo.

Registers Stratus's app in graphsim (redirect URI `<BASE_URL>/console/m365/callback/`,
the application and delegated permissions Stratus asks for), creates an emulated
tenant "Contoso (demo)" on the demo organization's domain with a Global Administrator
and users, and prints the M365_* settings to start Stratus with and the administrator's
sign-in. Safe to run again. It talks to graphsim's HTTP control API only (Stratus
imports nothing of graphsim). `manage.py runstack` calls `demo_prepare` itself.

    manage.py m365_graphsim_demo --graphsim https://127.0.0.1:8443 --ca var/graphsim/ca.pem
"""

import uuid
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from directory.management.commands.seed_demo import DEMO_DOMAIN
from m365bridge.capabilities import APPLICATION_PERMISSIONS
from m365bridge.graph.auth import DELEGATED_SCOPES

DEMO_TENANT = "Contoso (demo)"
DEMO_ADMIN = f"m365admin@{DEMO_DOMAIN}"
# An emulator-only password for the emulated tenant's administrator.
DEMO_ADMIN_PASSWORD = "Graphsim-Adm1n!"


@dataclass(frozen=True)
class DemoTenant:
    settings: dict[str, str]  # the M365_* variables Stratus needs
    tenant_id: str
    admin_upn: str
    admin_password: str


def demo_prepare(*, graphsim: str, ca: str, secret: str = "", base_url: str = "") -> DemoTenant:
    """`base_url`: where Stratus will answer (default `settings.BASE_URL`)."""
    # Closed when done: an idle keep-alive connection would hold graphsim's shutdown.
    with requests.Session() as session:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify (graph-facts §0)
        session.verify = ca
        return _demo_prepare(session, graphsim.rstrip("/"), ca, secret, base_url)


def _demo_prepare(session, base: str, ca: str, secret: str, base_url: str) -> DemoTenant:
    stratus = (base_url or settings.BASE_URL).rstrip("/")

    def call(method, path, json=None):
        response = session.request(method, f"{base}/_graphsim{path}", json=json, timeout=30)
        if response.status_code >= 400 and response.status_code != 404:
            raise CommandError(f"graphsim answered {response.status_code}: {response.text}")
        return response

    client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{stratus}/stratus"))
    redirect_uri = stratus + "/console/m365/callback/"
    app = call("GET", f"/apps/{client_id}")
    if app.status_code == 404:
        app = call(
            "POST",
            "/apps",
            {
                "clientId": client_id,
                "displayName": "Stratus",
                "redirectUris": [redirect_uri],
                "applicationPermissions": APPLICATION_PERMISSIONS,
                "delegatedPermissions": DELEGATED_SCOPES,
                "secret": secret or None,
            },
        )
    app = app.json()
    tenants = call("GET", "/tenants").json()["value"]
    tenant = next((t for t in tenants if t.get("displayName") == DEMO_TENANT), None)
    if tenant is None:
        tenant = call(
            "POST",
            "/tenants",
            {
                "displayName": DEMO_TENANT,
                "domains": [DEMO_DOMAIN],
                "users": 25,
                "groups": 3,
                "photoShare": 0.3,  # some bring a profile photo when imported
                "admins": [
                    {
                        "userPrincipalName": DEMO_ADMIN,
                        "password": DEMO_ADMIN_PASSWORD,
                        "roles": ["Global Administrator"],
                        "displayName": "M365 Admin",
                    }
                ],
            },
        ).json()
    return DemoTenant(
        settings={
            "M365_CLIENT_ID": app["clientId"],
            "M365_CLIENT_SECRET": app["secret"],
            "M365_LOGIN_URL": base,
            "M365_GRAPH_URL": base,
            "M365_CA_BUNDLE": ca,
        },
        tenant_id=tenant["id"],
        admin_upn=DEMO_ADMIN,
        admin_password=DEMO_ADMIN_PASSWORD,
    )


class Command(BaseCommand):
    help = "Register Stratus and a demo tenant in a running graphsim; print the settings."

    def add_arguments(self, parser):
        parser.add_argument("--graphsim", default="https://127.0.0.1:8443")
        parser.add_argument("--ca", required=True, help="graphsim's CA file (ca.pem)")
        parser.add_argument("--secret", default="", help="client secret (default: generated)")

    def handle(self, *args, graphsim, ca, secret, **options):
        demo = demo_prepare(graphsim=graphsim, ca=ca, secret=secret)
        self.stdout.write("Start Stratus with:")
        for name, value in demo.settings.items():
            self.stdout.write(f"  {name}={value}")
        self.stdout.write(
            f'Emulated tenant "{DEMO_TENANT}" ({demo.tenant_id}): sign in to '
            f"Microsoft as {demo.admin_upn} with password {demo.admin_password}"
        )
