"""`manage.py m365_graphsim_demo`: prepare a running graphsim for the demo.

Registers Stratus's app in graphsim (redirect URI `<BASE_URL>/console/m365/callback/`,
the application and delegated permissions Stratus asks for), creates an emulated
tenant "Contoso (demo)" with a Global Administrator and users, and prints the M365_*
settings to start Stratus with and the administrator's sign-in. Safe to run again.
It talks to graphsim's HTTP control API only (Stratus imports nothing of graphsim).

    manage.py m365_graphsim_demo --graphsim https://127.0.0.1:8443 --ca .graphsim/ca.pem
"""

import uuid

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from m365bridge.capabilities import APPLICATION_PERMISSIONS
from m365bridge.graph.auth import DELEGATED_SCOPES

DEMO_TENANT = "Contoso (demo)"
DEMO_DOMAIN = "contoso-demo.example"


class Command(BaseCommand):
    help = "Register Stratus and a demo tenant in a running graphsim; print the settings."

    def add_arguments(self, parser):
        parser.add_argument("--graphsim", default="https://127.0.0.1:8443")
        parser.add_argument("--ca", required=True, help="graphsim's CA file (ca.pem)")
        parser.add_argument("--secret", default="", help="client secret (default: generated)")

    def handle(self, *args, graphsim, ca, secret, **options):
        base = graphsim.rstrip("/")
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify (graph-facts §0)
        session.verify = ca

        def call(method, path, json=None):
            response = session.request(method, f"{base}/_graphsim{path}", json=json, timeout=30)
            if response.status_code >= 400 and response.status_code != 404:
                raise CommandError(f"graphsim answered {response.status_code}: {response.text}")
            return response

        client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{settings.BASE_URL}/stratus"))
        redirect_uri = settings.BASE_URL.rstrip("/") + "/console/m365/callback/"
        existing = call("GET", f"/apps/{client_id}")
        if existing.status_code == 404:
            app = call("POST", "/apps", {
                "clientId": client_id, "displayName": "Stratus", "redirectUris": [redirect_uri],
                "applicationPermissions": APPLICATION_PERMISSIONS,
                "delegatedPermissions": DELEGATED_SCOPES,
                "secret": secret or None}).json()
        else:
            app = existing.json()
        tenants = call("GET", "/tenants").json()["value"]
        tenant = next((t for t in tenants if t.get("displayName") == DEMO_TENANT), None)
        admins = {}
        if tenant is None:
            tenant = call("POST", "/tenants", {"displayName": DEMO_TENANT,
                                               "domains": [DEMO_DOMAIN], "users": 25,
                                               "groups": 3}).json()
            admins = tenant.get("admins", {})
        self.stdout.write("Start Stratus with:")
        self.stdout.write(f"  M365_CLIENT_ID={app['clientId']}")
        self.stdout.write(f"  M365_CLIENT_SECRET={app['secret']}")
        for name, value in (("LOGIN_URL", base), ("GRAPH_URL", base), ("CA_BUNDLE", ca)):
            self.stdout.write(f"  M365_{name}={value}")
        for upn, admin in admins.items():
            self.stdout.write(f'Emulated tenant "{DEMO_TENANT}": sign in to Microsoft as {upn} '
                              f"with password {admin['password']}")
        if not admins:
            self.stdout.write(f'Emulated tenant "{DEMO_TENANT}" already exists ({tenant["id"]}).')
