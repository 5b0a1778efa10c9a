"""Security-relevant writes (blocks, passwords, unblocks) go before creates and attribute
updates of the same tenant, marked `x-ms-throttle-priority: high`, and may use the
reserve of the write budget that bulk work cannot take."""

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory import services as directory_services
from m365bridge import services
from m365bridge.graph.budget import WRITE_QUOTA, WriteBudget
from m365bridge.models import UserBinding
from m365bridge.sync import engine, runner
from m365bridge.sync.users import USERS

from .provisioning import EMPLOYEE_PASSWORD, account, can_sign_in, employee, sync

pytest_plugins = ["tests.m365bridge.provisioning"]


def bound(acme, alice, ms, tenant, names):
    """Employees bound and their accounts created in Microsoft."""
    people = [employee(acme, alice, ms, name) for name in names]
    services.users_bind(actor=alice, tenant=tenant, users=people)
    assert sync(tenant).applied == len(people)
    return people


def tenant_budget(tenant) -> WriteBudget:
    """The budget the tenant's workers share (the same Redis keys)."""
    return WriteBudget(
        tenant_id=tenant.microsoft_tenant_id,
        app_id=settings.M365_CLIENT_ID,
        redis_url=settings.REDIS_URL,
        time_scale=settings.M365_GRAPH_TIME_SCALE,
    )


def test_security_relevant_changes_are_claimed_before_queued_creates(acme, alice, ms, tenant):
    newcomers = [employee(acme, alice, ms, f"new{i}") for i in range(25)]
    services.users_bind(actor=alice, tenant=tenant, users=newcomers)  # 25 creates queued...
    queued_creates = UserBinding.objects.filter(user__in=newcomers)
    queued_creates.update(needs_sync=False)  # (held back while two accounts are created)
    suspended, changed = bound(acme, alice, ms, tenant, ["sus", "pwd"])
    queued_creates.update(needs_sync=True)  # ... before these two changes
    directory_services.user_suspend(actor=alice, user=suspended)
    directory_services.user_set_password(actor=alice, user=changed, password=EMPLOYEE_PASSWORD)

    claimed = engine.claim(USERS, tenant_id=tenant.pk, token="t" * 32, limit=20)

    assert len(claimed) == 20
    assert {suspended.pk, changed.pk} <= {b.user_id for b in claimed}
    urgent = engine.claim(USERS, tenant_id=tenant.pk, token="u" * 32, urgent_only=True)
    assert urgent == []  # only creates are left


def test_a_claim_locks_and_leases_its_rows_in_one_statement_per_pass(acme, alice, ms, tenant):
    """Security-relevant rows, then the others: each pass one UPDATE of the keys its
    locking SELECT picks (returning them), then one SELECT of the rows claimed and one of
    the tenant they share."""
    (suspended,) = bound(acme, alice, ms, tenant, ["held"])
    newcomers = [employee(acme, alice, ms, f"few{i}") for i in range(3)]
    services.users_bind(actor=alice, tenant=tenant, users=newcomers)
    directory_services.user_suspend(actor=alice, user=suspended)

    with CaptureQueriesContext(connection) as queries:
        claimed = engine.claim(USERS, tenant_id=tenant.pk, token="c" * 32, limit=20)

    statements = [q["sql"] for q in queries.captured_queries]
    statements = [s for s in statements if s.split()[0] in ("SELECT", "UPDATE")]
    assert [s.split()[0] for s in statements] == ["UPDATE", "UPDATE", "SELECT", "SELECT"]
    assert '"m365bridge_tenant"' in statements[3].split("WHERE")[0].split("JOIN")[0]
    assert all("SKIP LOCKED" in s and "RETURNING" in s for s in statements[:2])
    expected = UserBinding.objects.filter(user__in=[suspended, *newcomers]).order_by("pk")
    assert [b.pk for b in claimed] == list(expected.values_list("pk", flat=True))
    assert all(b.claim_token == "c" * 32 and b.claimed_until for b in claimed)
    stored = UserBinding.objects.filter(claim_token="c" * 32)
    assert sorted(stored.values_list("pk", flat=True)) == [b.pk for b in claimed]


def test_a_password_is_sent_at_high_priority_and_creates_at_low(acme, alice, ms, tenant):
    (changed,) = bound(acme, alice, ms, tenant, ["pat"])
    ms["control"].set_throttling(ms["id"], enabled=False)  # restarts graphsim's records
    newcomers = [employee(acme, alice, ms, f"joiner{i}") for i in range(3)]
    services.users_bind(actor=alice, tenant=tenant, users=newcomers)
    directory_services.user_set_password(actor=alice, user=changed, password=EMPLOYEE_PASSWORD)

    assert sync(tenant).applied == 4

    priorities = ms["control"].write_windows(ms["id"])["priorities"]
    assert priorities.get("high") == 1 and priorities.get("low") == 3
    assert can_sign_in(ms, changed.email, EMPLOYEE_PASSWORD)


def test_with_the_window_used_up_by_bulk_work_a_block_still_goes_out_at_once(
    acme, alice, ms, tenant, queued
):
    (leaver,) = bound(acme, alice, ms, tenant, ["leaver"])
    waiting = employee(acme, alice, ms, "waiting")
    services.user_bind(actor=alice, tenant=tenant, user=waiting)
    budget = tenant_budget(tenant)
    budget.reset()
    budget.take(int(WRITE_QUOTA * 0.95) - 5, priority="low")  # a bind burst the window
    directory_services.user_suspend(actor=alice, user=leaver)

    result = runner.tenant_sync(tenant_id=tenant.pk, time_limit=60)

    assert account(ms, leaver.email)["accountEnabled"] is False  # sent, not queued
    assert result.applied == 1 and result.budget_wait > 1
    assert UserBinding.objects.get(user=waiting).needs_sync  # bulk waits for the window
    assert queued[-1] == tenant.pk  # and its sync comes back when the window has room
    budget.reset()


def test_a_password_set_in_another_tenant_is_sent_between_the_chunks_of_a_long_sync(
    acme, alice, ms, tenant, m365, stratus_app
):
    """Every worker may be busy with one tenant's bulk bind while another tenant's
    password push waits in the queue: the bind's task sends it between two chunks."""
    from m365bridge.capabilities import APPLICATION_PERMISSIONS

    from .conftest import unique_domain
    from .factories import TenantDomainFactory, TenantFactory

    domain = unique_domain()
    other = m365.control.create_tenant(display_name="Fabrikam", domains=[domain])
    m365.control.grant(
        other["id"],
        stratus_app["clientId"],
        application_permissions=APPLICATION_PERMISSIONS,
        directory_roles=["User Administrator"],
    )
    fabrikam = TenantFactory(organization=acme, microsoft_tenant_id=other["id"], connected_by=alice)
    TenantDomainFactory(tenant=fabrikam, name=domain, is_default=True)
    elsewhere = {**ms, "id": other["id"], "domain": domain}
    (pat,) = bound(acme, alice, elsewhere, fabrikam, ["pat"])
    bulk = [employee(acme, alice, ms, f"bulk{i}") for i in range(3 * engine.CHUNK)]
    services.users_bind(actor=alice, tenant=tenant, users=bulk)
    ms["control"].set_faults(ms["id"], latency_ms=300)  # the bind takes a while
    directory_services.user_set_password(actor=alice, user=pat, password=EMPLOYEE_PASSWORD)

    result = runner.tenant_sync(tenant_id=tenant.pk, time_limit=60)  # the bind's task only

    assert result.applied == 3 * engine.CHUNK
    assert not UserBinding.objects.get(user=pat).needs_sync
    assert can_sign_in(elsewhere, pat.email, EMPLOYEE_PASSWORD)
