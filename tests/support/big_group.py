"""A security group with many members, bound to a graphsim tenant and synced: the
scenario of `tests/m365bridge/test_big_group.py` (a few thousand members) and
`bench/group_members.py` (50,000). graphsim generates the accounts; Stratus's users,
their bindings (as if already provisioned, `seeding`) and the memberships are bulk-created; the
sync is the real engine, and every write it sends is recorded on the way out."""

from __future__ import annotations

import json
import time
import tracemalloc
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from directory.models import Group

from .seeding import users_bound_as_in_microsoft


@dataclass
class BigGroup:
    tenant: object  # m365bridge.models.Tenant
    group: Group
    microsoft_tenant_id: str
    member_ids: set[str]  # the members' Microsoft ids


@dataclass
class Sent:
    """The writes the engine sent: the group's create and the member `$ref` POSTs."""

    create: dict | None = None
    refs: list[str] = field(default_factory=list)
    other_writes: list[tuple] = field(default_factory=list)

    @property
    def at_create(self) -> list[str]:
        return [r.rsplit("/", 1)[1] for r in (self.create or {}).get("members@odata.bind", [])]


def seed_big_group(*, control, client_id: str, organization, actor, members: int, domain: str):
    """A graphsim tenant of `members` users connected to the organization, each user in
    Stratus bound (provisioned), all in one Stratus group, not bound yet."""
    from directory import services as directory_services
    from m365bridge.capabilities import APPLICATION_PERMISSIONS
    from m365bridge.models import Tenant, TenantDomain

    created = control.create_tenant(display_name="Big", domains=[domain], users=members, seed=50)
    control.grant(
        created["id"],
        client_id,
        application_permissions=APPLICATION_PERMISSIONS,
        directory_roles=["User Administrator"],
    )
    tenant = Tenant.objects.create(
        organization=organization,
        microsoft_tenant_id=created["id"],
        display_name="Big",
        mode=Tenant.APPLICATION,
        connected_by=actor,
        connected_at=timezone.now(),
    )
    TenantDomain.objects.create(tenant=tenant, name=domain, is_default=True)
    accounts = [
        a for a in control.users(created["id"]) if a["userPrincipalName"].endswith("@" + domain)
    ][:members]
    bound = users_bound_as_in_microsoft(organization=organization, tenant=tenant, accounts=accounts)
    with transaction.atomic():
        group = directory_services.group_create(
            actor=actor, organization=organization, name=f"Everyone {created['id'][:8]}"
        )
        through = Group.members.through
        through.objects.bulk_create(
            [through(group_id=group.pk, user_id=user_id) for user_id in bound.values()],
            batch_size=5000,
        )
    return BigGroup(tenant, group, created["id"], {a["id"] for a in accounts})


def measured_preview(big: BigGroup):
    """The group's bind preview, with its queries and its peak of Python memory."""
    from m365bridge import services

    tracemalloc.start()
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        preview = services.group_bind_preview(tenant=big.tenant, group=big.group)
    seconds = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return preview, len(queries), peak, seconds


def bind_and_sync(
    big: BigGroup, *, rounds: int = 50, time_limit: float = 300
) -> tuple[Sent, float]:
    """Bind the group and run the tenant's sync until nothing is waiting; returns what
    was sent and how long it took."""
    from m365bridge import services
    from m365bridge.graph.client import GraphClient
    from m365bridge.models import GroupBinding
    from m365bridge.sync import runner

    sent = Sent()
    original_batch, original_post = GraphClient.batch, GraphClient.post

    def batch(self, requests_, **options):
        for r in requests_:
            if r.method == "POST" and r.url.endswith("/members/$ref"):
                sent.refs.append(r.body["@odata.id"].rsplit("/", 1)[1])
            elif r.method != "GET":
                sent.other_writes.append((r.method, r.url, json.dumps(r.body)))
        return original_batch(self, requests_, **options)

    def post(self, path, body=None, **options):
        if path == "/groups" and sent.create is None:
            sent.create = body
        else:
            sent.other_writes.append(("POST", path, json.dumps(body)))
        return original_post(self, path, body, **options)

    GraphClient.batch, GraphClient.post = batch, post
    try:
        services.group_bind(actor=None, tenant=big.tenant, group=big.group)
        started = time.monotonic()
        for _ in range(rounds):
            runner.tenant_sync(tenant_id=big.tenant.pk, time_limit=time_limit)
            if not GroupBinding.objects.filter(tenant=big.tenant, needs_sync=True).exists():
                break
        return sent, time.monotonic() - started
    finally:
        GraphClient.batch, GraphClient.post = original_batch, original_post


def members_in_microsoft(big: BigGroup, group_id: str) -> int:
    """The group's members as Graph lists them (999 a page)."""
    from m365bridge.tenants import tenant_graph_session

    with tenant_graph_session(tenant=big.tenant, budget=False) as client:
        pages = client.items(f"groups/{group_id}/members", params={"$select": "id", "$top": "999"})
        return sum(1 for _ in pages)
