"""Connect a graphsim tenant to an organization without a browser, and seed many users
quickly. Used by the reliability tests and the benchmarks.

The connection goes through the real services and graphsim's real admin-consent pages
(`tests.m365bridge.conftest.sign_in_at_microsoft`), in application mode. Consent never
gives an app a directory role, so the tenant's admin first assigns Stratus "User
Administrator" in Entra (as the README tells them to), which password pushes need.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.utils import timezone

from directory.models import Organization, User
from tests.m365bridge.conftest import REDIRECT_URI, sign_in_at_microsoft

USER_PASSWORD = "Seeded-Passw0rd-42"


@dataclass
class ConnectedTenant:
    tenant: object  # m365bridge.models.Tenant
    microsoft_id: str  # graphsim tenant id
    domain: str
    raw: dict  # graphsim's summary of the tenant


def register_stratus_app(sim) -> dict:
    """Stratus's app registration in graphsim, as `tests/m365bridge/conftest.py` makes it."""
    from m365bridge.capabilities import APPLICATION_PERMISSIONS
    from m365bridge.graph.auth import DELEGATED_SCOPES

    return sim.control.register_app(
        display_name="Stratus",
        redirect_uris=[REDIRECT_URI],
        secret=f"stratus-secret-{uuid.uuid4().hex}",
        application_permissions=APPLICATION_PERMISSIONS,
        delegated_permissions=DELEGATED_SCOPES,
    )


def unique_domain(prefix: str = "contoso") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}.example"


def connect_graphsim_tenant(
    *,
    sim,
    app: dict,
    organization: Organization,
    actor: User,
    domain: str | None = None,
    users: int = 0,
    throttling: bool = False,
    time_scale: float = 1.0,
    faults: dict | None = None,
    display_name: str = "Contoso",
) -> ConnectedTenant:
    """Create a tenant in graphsim and connect it to `organization` in application mode.
    Django's M365_* settings must already point at `sim` with `app`'s credentials."""
    from m365bridge import services

    domain = domain or unique_domain()
    created = sim.control.create_tenant(
        display_name=display_name,
        domains=[domain],
        users=users,
        throttling=throttling,
        time_scale=time_scale,
        faults=faults,
    )
    admin_upn, admin = next(iter(created["admins"].items()))
    # Before consent, so the first app token already carries the role in `wids`.
    sim.control.grant(created["id"], app["clientId"], directory_roles=["User Administrator"])
    start = services.tenant_connect_begin(
        actor=actor, organization=organization, mode="application", redirect_uri=REDIRECT_URI
    )
    params = sign_in_at_microsoft(sim, start.url, login=admin_upn, password=admin["password"])
    tenant = services.tenant_connect_complete(
        actor=actor, organization=organization, pending=start.pending, params=params
    )
    return ConnectedTenant(tenant=tenant, microsoft_id=created["id"], domain=domain, raw=created)


def seed_users(
    *,
    organization: Organization,
    domain: str,
    count: int,
    prefix: str = "u",
    start: int = 0,
    batch: int = 1000,
) -> list[User]:
    """`count` active members with synced attributes, created in bulk. Setup only: the
    directory's services hash each password with Argon2, which would take minutes at
    thousands of users, and a bulk bind does not depend on how users were created."""
    password_hash = make_password(USER_PASSWORD)
    now = timezone.now()
    created: list[User] = []
    for low in range(start, start + count, batch):
        rows = []
        for n in range(low, min(low + batch, start + count)):
            rows.append(
                User(
                    organization=organization,
                    email=f"{prefix}{n:05d}@{domain}",
                    password=password_hash,
                    password_changed_at=now,
                    status=User.ACTIVE,
                    role=User.MEMBER,
                    first_name=f"First{n}",
                    last_name=f"Last{n}",
                    display_name=f"First{n} Last{n}",
                    job_title="Engineer",
                    department=f"Dept {n % 7}",
                    city="Lisbon",
                    country="Portugal",
                    usage_location="PT",
                )
            )
        created.extend(User.objects.bulk_create(rows))
    return created
