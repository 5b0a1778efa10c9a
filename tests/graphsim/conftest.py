"""One real graphsim HTTPS server for the whole session; each test makes its own tenant.

Nothing here needs Django or a database.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from graphsim.testing import Sim, running_graphsim

APP_PERMISSIONS = (
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Organization.Read.All",
    "Domain.Read.All",
    "LicenseAssignment.ReadWrite.All",
    "User-PasswordProfile.ReadWrite.All",
)
ADMIN_PASSWORD = "Adm1n-Graphsim-Pw!"
STRONG_PASSWORD = "xWwvJ]6NMw+bWH-d"


@pytest.fixture(scope="session")
def sim():
    with running_graphsim() as running:
        yield running


@dataclass
class World:
    """A tenant, an app granted in it, and a session carrying the app's token."""

    sim: Sim
    tenant: dict
    app: dict
    token: str
    session: requests.Session

    @property
    def tid(self) -> str:
        return self.tenant["id"]

    @property
    def domain(self) -> str:
        return self.tenant["defaultDomain"]

    @property
    def admin_upn(self) -> str:
        return next(iter(self.tenant["admins"]))

    def url(self, path: str) -> str:
        return self.sim.graph_url(path)

    def call(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        headers.setdefault("Authorization", f"Bearer {token or self.token}")
        url = path if path.startswith("https://") else self.url(path)
        return self.session.request(method, url, headers=headers, timeout=30, **kwargs)

    def get(self, path: str, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.call("POST", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.call("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.call("DELETE", path, **kwargs)

    def new_user_body(self, alias: str, **extra) -> dict:
        return {
            "accountEnabled": True,
            "displayName": alias.title(),
            "mailNickname": alias,
            "userPrincipalName": f"{alias}@{self.domain}",
            "passwordProfile": {"password": STRONG_PASSWORD, "forceChangePasswordNextSignIn": True},
            **extra,
        }

    def create_user(self, alias: str, **extra) -> dict:
        response = self.post("users", json=self.new_user_body(alias, **extra))
        assert response.status_code == 201, response.text
        return response.json()

    def app_token(self, permissions=(), roles=()) -> str:
        """A second app in the same tenant with exactly these permissions and roles."""
        control = self.sim.control
        other = control.register_app(display_name="narrow app")
        control.grant(
            self.tid, other["clientId"], application_permissions=permissions, directory_roles=roles
        )
        return control.app_token(self.tid, other["clientId"], other["secret"])


@pytest.fixture
def make_world(sim):
    def make(*, permissions=APP_PERMISSIONS, roles=("User Administrator",), **tenant_kwargs):
        tenant_kwargs.setdefault("domains", ["contoso.example"])
        tenant_kwargs.setdefault(
            "admins",
            [{"userName": "admin", "password": ADMIN_PASSWORD, "roles": ["Global Administrator"]}],
        )
        tenant_kwargs.setdefault("display_name", "Contoso")
        domains = []
        for domain in tenant_kwargs["domains"]:
            name = domain if isinstance(domain, str) else domain["name"]
            # Domains are unique across the server, so give each test its own.
            unique = f"{name.split('.')[0]}{len(sim.control.list_tenants())}x{id(domains)}"
            unique = unique[:40] + "." + name.split(".", 1)[1]
            domains.append(unique if isinstance(domain, str) else {**domain, "name": unique})
        tenant_kwargs["domains"] = domains
        tenant = sim.control.create_tenant(**tenant_kwargs)
        app = sim.control.register_app(
            display_name="Stratus test",
            redirect_uris=["http://localhost:8400/callback"],
            delegated_permissions=["User.Read", "User.ReadWrite.All"],
            application_permissions=list(permissions),
        )
        sim.control.grant(
            tenant["id"],
            app["clientId"],
            application_permissions=permissions,
            directory_roles=roles,
        )
        token = sim.control.app_token(tenant["id"], app["clientId"], app["secret"])
        return World(sim=sim, tenant=tenant, app=app, token=token, session=sim.session())

    return make


@pytest.fixture
def world(make_world) -> World:
    return make_world()
