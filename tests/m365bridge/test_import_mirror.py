"""The import mirror (issue 12, I1) against graphsim over HTTPS: the reconcile's own
`users/delta` read fills it page by page, each user with its import status, and the
next delta round keeps it current (changes, deletions) without a second read."""

from m365bridge import services
from m365bridge.capabilities import APPLICATION_PERMISSIONS
from m365bridge.models import MirroredUser, TenantMirror
from m365bridge.sync import mirror, reconcile

from .conftest import unique_domain
from .factories import TenantDomainFactory, TenantFactory
from .importing import add_account, mirrored
from .provisioning import employee, graph_log, log_mark, sync

pytest_plugins = ["tests.m365bridge.provisioning", "tests.m365bridge.importing"]


def reconciled(tenant):
    return reconcile.tenant_reconcile(tenant_id=tenant.pk)


def test_the_first_reconcile_mirrors_every_user_with_its_import_status(acme, alice, ms, tenant):
    domain = ms["domain"]
    add_account(ms, "new.person", mail=f"New.Person@{domain}", department="Sales")
    add_account(
        ms,
        "guest",
        upn=f"guest_fabrikam.example#EXT#@{domain}",
        userType="Guest",
        mail="guest@fabrikam.example",
    )
    add_account(ms, "synced", onPremisesSyncEnabled=True)
    add_account(ms, "outside", mail="outside@unverified.example")
    add_account(ms, "taken", proxyAddresses=[f"SMTP:taken@{domain}", f"smtp:old.alias@{domain}"])
    employee(acme, alice, ms, "old.alias")  # a Stratus user holds one of its proxy addresses

    run = reconciled(tenant)

    assert run.outcome == "succeeded", run.note
    new = mirrored(tenant, f"new.person@{domain}")
    assert (new.status, new.email, new.department) == ("new", f"new.person@{domain}", "Sales")
    assert mirrored(tenant, f"guest_fabrikam.example#EXT#@{domain}").reason == mirror.GUEST
    assert mirrored(tenant, f"synced@{domain}").reason == mirror.ON_PREMISES
    outside = mirrored(tenant, f"outside@{domain}")
    assert outside.status == "not_importable"
    assert outside.reason == mirror.UNVERIFIED.format(email="outside@unverified.example")
    assert mirrored(tenant, f"taken@{domain}").status == "conflict"
    state = TenantMirror.objects.get(tenant=tenant)
    assert state.filled_at is not None and not state.reading
    assert state.read == MirroredUser.objects.filter(tenant=tenant).count()


def test_the_next_delta_round_keeps_the_mirror_current_in_one_request_per_feed(ms, tenant):
    domain = ms["domain"]
    kept = add_account(ms, "kept", department="Sales")
    gone = add_account(ms, "gone")
    reconciled(tenant)
    ms["control"].admin_update_user(ms["id"], kept["id"], department="Finance")
    ms["control"].admin_delete_user(ms["id"], gone["id"])
    mark = log_mark(ms)

    run = reconciled(tenant)

    assert run.kind == "delta" and run.outcome == "succeeded", run.note
    requests_ = graph_log(ms, mark)
    assert len(requests_) == 2 and "users/delta" in requests_[0]["path"]
    assert "groups/delta" in requests_[1]["path"]  # the group mirror's own one request
    row = mirrored(tenant, f"kept@{domain}")
    assert row.department == "Finance" and row.display_name == "Kept"  # merged, not replaced
    assert not MirroredUser.objects.filter(tenant=tenant, microsoft_id=gone["id"]).exists()


def test_a_delta_link_from_before_the_mirror_reads_every_user_once(ms, tenant):
    add_account(ms, "early")
    reconciled(tenant)
    TenantMirror.objects.filter(tenant=tenant).update(select="id,accountEnabled")

    run = reconciled(tenant)

    assert run.kind == "full" and reconcile.MIRROR_FILL in run.note
    assert mirrored(tenant, f"early@{ms['domain']}").status == "new"
    assert reconciled(tenant).kind == "delta"


def test_an_account_bound_in_stratus_is_mirrored_as_imported(acme, alice, ms, tenant):
    user = employee(acme, alice, ms, "bound")
    services.user_bind(actor=alice, tenant=tenant, user=user)
    sync(tenant)

    reconciled(tenant)

    assert mirrored(tenant, f"bound@{ms['domain']}").status == "imported"


def test_the_first_read_fills_the_mirror_through_ten_percent_graph_faults(
    m365, stratus_app, acme, alice, queued, monkeypatch
):
    # Pages of 25 users: a hundred requests, so that one in ten failing is all but sure
    # to hit some of them.
    monkeypatch.setattr(reconcile, "PAGE_HEADERS", {"Prefer": "odata.maxpagesize=25"})
    created = m365.control.create_tenant(
        display_name="Faulty", domains=[unique_domain()], users=2500, seed=3
    )
    m365.control.grant(
        created["id"], stratus_app["clientId"], application_permissions=APPLICATION_PERMISSIONS
    )
    tenant = TenantFactory(organization=acme, microsoft_tenant_id=created["id"])
    for domain in m365.control.get_tenant(created["id"])["domains"]:
        TenantDomainFactory(
            tenant=tenant, name=domain["name"] if isinstance(domain, dict) else domain
        )
    m365.control.set_faults(created["id"], error_rate=0.1)

    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)

    assert run.outcome == "succeeded", run.note
    counters = m365.control.counters(created["id"])
    assert counters["faults"] > 0  # the read really went through faults
    accounts = {u["id"] for u in m365.control.users(created["id"])}
    assert (
        set(MirroredUser.objects.filter(tenant=tenant).values_list("microsoft_id", flat=True))
        == accounts
    )
