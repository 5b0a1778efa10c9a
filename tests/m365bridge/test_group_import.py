"""Importing Microsoft 365 security groups (issue 12, I3 and G1) against graphsim over
HTTPS with the real MSAL client: the reconcile's own `groups/delta` read mirrors every
group with its members and import status; Microsoft 365 (Unified) groups, distribution
lists and mail-enabled security groups are shown not importable with the reason;
importing a group creates the Stratus group with the members imported in the same job,
reports the members left out (a guest), binds it to that Microsoft group with zero Graph
writes, and the next reconcile and sync send nothing; a rerun never duplicates; a name
conflict fails with its reason and can be linked. A member left out because it was not
imported yet, imported or linked later, joins the group Microsoft has it in, with
no write and no drift, and stays there when Stratus next syncs the group."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import Event
from directory import services as directory_services
from directory.models import Group, User
from m365bridge import import_selectors, services
from m365bridge.models import GroupBinding, ImportJob, MirroredGroup, Tenant, TenantMirror
from m365bridge.services import group_imports
from m365bridge.sync import group_mirror, group_reconcile, reconcile
from m365bridge.tenants import tenant_graph_session

from .importing import add_account, email_taken_after_planning, mirrored
from .provisioning import employee, graph_log, log_mark, sync

pytest_plugins = ["tests.m365bridge.provisioning", "tests.m365bridge.importing"]


def reconciled(tenant):
    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)
    assert run.outcome == "succeeded", run.note
    return run


def add_group(ms, name, members=(), **attrs):
    return ms["control"].admin_create_group(
        ms["id"], name, members=[m["id"] for m in members], **attrs
    )


def writes(ms, since) -> list[dict]:
    return [row for row in graph_log(ms, since) if row["write"]]


def group_row(tenant, name) -> MirroredGroup:
    return MirroredGroup.objects.get(tenant=tenant, display_name=name)


@pytest.fixture
def directory_(ms, tenant):
    """Ann and Cal (imported with the group), Gus a guest, and four kinds of group."""
    domain = ms["domain"]
    people = {
        "ann": add_account(ms, "ann", displayName="Ann Archer"),
        "cal": add_account(ms, "cal", displayName="Cal Carter"),
        "gus": add_account(
            ms, "gus", upn=f"gus_other.example#EXT#@{domain}", userType="Guest", mail=None
        ),
    }
    groups = {
        "sales": add_group(
            ms,
            "Sales",
            [people["ann"], people["cal"], people["gus"]],
            description="Everyone who sells",
        ),
        "unified": add_group(
            ms, "Team Site", [people["ann"]], groupTypes=["Unified"], mailEnabled=True
        ),
        "list": add_group(
            ms, "All Staff List", [people["cal"]], mailEnabled=True, securityEnabled=False
        ),
        "mailsec": add_group(ms, "Door Access", [], mailEnabled=True, securityEnabled=True),
    }
    reconciled(tenant)
    return people, groups


def imported(alice, tenant, *, users=(), groups=()) -> ImportJob:
    job = services.import_start(
        actor=alice,
        tenant=tenant,
        microsoft_ids=[mirrored(tenant, u).microsoft_id for u in users] if users else None,
        group_ids=[group_row(tenant, g).microsoft_id for g in groups],
    )
    return services.import_run(job_id=job.pk)


def test_the_reconcile_mirrors_every_group_with_its_members_and_why_some_cannot_come(
    ms, tenant, directory_
):
    people, groups = directory_

    sales = group_row(tenant, "Sales")
    assert sales.status == "new" and sales.reason == ""
    assert sales.description == "Everyone who sells" and sales.member_count == 3
    assert set(sales.members) == {people[n]["id"] for n in ("ann", "cal", "gus")}
    assert sales.created_in_microsoft is not None
    assert (sales.security_enabled, sales.mail_enabled, sales.group_types) == (True, False, [])
    assert group_row(tenant, "Team Site").reason == group_mirror.UNIFIED
    assert group_row(tenant, "All Staff List").reason == group_mirror.DISTRIBUTION
    assert group_row(tenant, "Door Access").reason == group_mirror.MAIL_SECURITY
    for name in ("Team Site", "All Staff List", "Door Access"):
        assert group_row(tenant, name).status == "not_importable"
    assert TenantMirror.objects.get(tenant=tenant).group_select == group_reconcile.SELECT


def test_the_next_delta_round_keeps_the_group_mirror_current_in_one_request(ms, tenant, directory_):
    people, groups = directory_
    dan = add_account(ms, "dan")
    with tenant_graph_session(
        tenant=tenant, budget=False
    ) as client:  # an admin's tool changes the group in Microsoft
        client.patch(f"/groups/{groups['sales']['id']}", {"displayName": "Sales EMEA"})
        client.post(
            f"/groups/{groups['sales']['id']}/members/$ref",
            {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{dan['id']}"},
        )
        client.delete(f"/groups/{groups['sales']['id']}/members/{people['gus']['id']}/$ref")
        client.delete(f"/groups/{groups['mailsec']['id']}")
    reconciled(tenant)
    mark = log_mark(ms)

    reconciled(tenant)  # nothing changed since: one request per feed

    row = group_row(tenant, "Sales EMEA")
    assert row.description == "Everyone who sells"  # merged, not replaced
    assert set(row.members) == {people["ann"]["id"], people["cal"]["id"], dan["id"]}
    assert not MirroredGroup.objects.filter(microsoft_id=groups["mailsec"]["id"]).exists()
    assert [r["path"].split("?")[0] for r in graph_log(ms, mark)] == [
        "/v1.0/users/delta",
        "/v1.0/groups/delta",
    ]


def test_a_stratus_group_of_that_name_is_a_conflict(acme, alice, ms, tenant):
    directory_services.group_create(actor=alice, organization=acme, name="sales")
    add_group(ms, "Sales")

    reconciled(tenant)

    assert group_row(tenant, "Sales").status == "conflict"


def test_an_imported_group_takes_the_members_imported_with_it_and_nothing_is_written(
    alice, ms, tenant, directory_
):
    people, groups = directory_
    domain = ms["domain"]
    mark = log_mark(ms)

    job = imported(alice, tenant, users=[f"ann@{domain}", f"cal@{domain}"], groups=["Sales"])

    assert (job.status, job.total, job.groups, job.imported, job.failed) == (
        "done",
        3,
        1,
        3,
        0,
    )
    group = Group.objects.get(name="Sales")
    assert group.description == "Everyone who sells"
    assert {u.email for u in group.members.all()} == {f"ann@{domain}", f"cal@{domain}"}
    binding = GroupBinding.objects.get(group=group)
    assert binding.microsoft_id == groups["sales"]["id"]
    assert binding.state == "provisioned" and not binding.needs_sync
    item = job.items.get(kind="group")
    assert item.outcome == "imported" and item.group == group
    [left_out] = item.members_left_out
    assert left_out["microsoft_id"] == people["gus"]["id"]
    assert "guest" in left_out["reason"].lower()
    event = Event.objects.get(type="group_import")
    assert event.outcome == "success" and event.target_id == str(group.pk)
    assert (event.details["members"], event.details["members_left_out"]) == (2, 1)
    added = Event.objects.filter(type="group_member_add", target_id=str(group.pk))
    assert sorted(e.details["user_email"] for e in added) == [f"ann@{domain}", f"cal@{domain}"]
    assert group_row(tenant, "Sales").status == "imported"
    assert writes(ms, mark) == []

    run = reconciled(tenant)
    sync(tenant)

    assert run.corrected == 0, run.note
    binding.refresh_from_db()
    assert not binding.needs_sync and binding.drift == {}
    assert writes(ms, mark) == []  # G1 keeps its membership: no drift, nothing sent


def test_a_member_not_imported_is_reported_not_silently_dropped(alice, ms, tenant, directory_):
    people, _ = directory_

    job = imported(alice, tenant, groups=["Sales"])  # no user imported first

    item = job.items.get(kind="group")
    assert item.outcome == "imported"
    reasons = {m["microsoft_id"]: m["reason"] for m in item.members_left_out}
    assert set(reasons) == {people[n]["id"] for n in ("ann", "cal", "gus")}
    assert reasons[people["ann"]["id"]] == group_imports.MEMBER_NOT_IMPORTED.format(status="New")
    assert Group.objects.get(name="Sales").members.count() == 0


def test_not_importable_groups_fail_with_their_reason_and_the_others_import(
    alice, ms, tenant, directory_
):
    job = imported(alice, tenant, groups=["Sales", "Team Site", "All Staff List", "Door Access"])

    assert (job.imported, job.failed) == (1, 3)
    failed = {i.label: i.reason for i in job.items.filter(outcome="failed")}
    assert failed == {
        "Team Site": group_mirror.UNIFIED,
        "All Staff List": group_mirror.DISTRIBUTION,
        "Door Access": group_mirror.MAIL_SECURITY,
    }
    events = Event.objects.filter(type="group_import", outcome="failure")
    assert {e.details["reason"] for e in events} == set(failed.values())
    assert list(Group.objects.values_list("name", flat=True)) == ["Sales"]


def test_importing_again_skips_an_imported_group_and_never_duplicates_it(
    alice, ms, tenant, directory_
):
    imported(alice, tenant, groups=["Sales"])

    job = imported(alice, tenant, groups=["Sales"])

    assert (job.imported, job.skipped) == (0, 1)
    assert job.items.get().reason == group_imports.ALREADY_IMPORTED
    assert Group.objects.filter(name="Sales").count() == 1
    assert GroupBinding.objects.count() == 1


def test_a_name_conflict_fails_with_its_reason_and_can_be_linked(acme, alice, ms, tenant):
    domain = ms["domain"]
    ann = add_account(ms, "ann")
    add_group(ms, "Sales", [ann])
    reconciled(tenant)
    existing = directory_services.group_create(actor=alice, organization=acme, name="Sales")
    group_mirror.mirrored_groups_reclassify(
        tenant=tenant, microsoft_ids=[group_row(tenant, "Sales").microsoft_id]
    )
    assert group_row(tenant, "Sales").status == "conflict"
    imported(alice, tenant, users=[f"ann@{domain}"])

    job = imported(alice, tenant, groups=["Sales"])

    assert job.items.get().reason == group_imports.GROUP_EXISTS
    binding = services.mirrored_group_link(
        actor=alice, tenant=tenant, row=group_row(tenant, "Sales"), group=existing
    )
    assert binding.microsoft_id == group_row(tenant, "Sales").microsoft_id
    assert binding.needs_sync  # Stratus is the source of truth from now on
    assert group_row(tenant, "Sales").status == "imported"
    assert Event.objects.filter(type="m365_import_link", target_id=str(existing.pk)).exists()
    sync(tenant)  # Stratus's group has no member yet: Microsoft follows it
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        members = list(client.items(f"/groups/{binding.microsoft_id}/members"))
    assert members == []


def test_a_group_deleted_in_microsoft_after_the_preview_is_skipped_with_its_reason(
    alice, ms, tenant, directory_
):
    _, groups = directory_
    job = services.import_start(actor=alice, tenant=tenant, group_ids=[groups["sales"]["id"]])
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        client.delete(f"/groups/{groups['sales']['id']}")
    reconciled(tenant)

    job = services.import_run(job_id=job.pk)

    assert job.items.get().reason == group_imports.GROUP_GONE and job.failed == 1
    assert not Group.objects.exists()


def test_the_groups_list_filters_searches_and_pages(ms, tenant, directory_):
    rows = import_selectors.mirrored_groups_list(
        tenant=tenant, filter=import_selectors.group_filter_parse({"status": "not_importable"})
    )
    assert [r.display_name for r in rows] == ["All Staff List", "Door Access", "Team Site"]
    rows = import_selectors.mirrored_groups_list(
        tenant=tenant, filter=import_selectors.group_filter_parse({"q": "sal"})
    )
    assert [r.display_name for r in rows] == ["Sales"]
    rows = import_selectors.mirrored_groups_list(
        tenant=tenant, filter=import_selectors.group_filter_parse({"sort": "-members"})
    )
    assert rows[0].display_name == "Sales"


def test_a_nonsense_group_filter_names_its_field(tenant):
    from directory.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        import_selectors.group_filter_parse({"status": "maybe"})
    assert "status" in refused.value.fields
    with pytest.raises(InvalidInput) as refused:
        import_selectors.group_filter_parse({"sort": "colour"})
    assert "sort" in refused.value.fields


def test_groups_only_import_selects_no_user(alice, ms, tenant, directory_):
    job = imported(alice, tenant, groups=["Sales"])

    assert (job.total, job.groups) == (1, 1)
    assert Tenant.objects.get(pk=tenant.pk).group_delta_link


def test_a_worker_that_dies_mid_chunk_loses_nothing_and_the_rerun_imports_each_group_once(
    alice, ms, tenant, monkeypatch
):
    """The worker stops (here: an error no code catches, as a SIGKILL would leave it)
    while importing the second group: the chunk's transaction is rolled back whole, the
    lease expires, `imports_resume` sends the job again and it ends with every group
    imported exactly once, with one event each."""
    from django.utils import timezone

    from m365bridge.models import ImportItem

    for name in ("Alpha", "Beta", "Gamma"):
        add_group(ms, name)
    reconciled(tenant)
    job = services.import_start(
        actor=alice,
        tenant=tenant,
        group_ids=[group_row(tenant, n).microsoft_id for n in ("Alpha", "Beta", "Gamma")],
    )
    create = group_imports._group_create
    calls = []

    def dies_at_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return create(*args, **kwargs)

    monkeypatch.setattr(group_imports, "_group_create", dies_at_the_second)
    with pytest.raises(SystemExit):
        services.import_run(job_id=job.pk)
    monkeypatch.setattr(group_imports, "_group_create", create)
    assert not Group.objects.exists() and not Event.objects.filter(type="group_import").exists()
    assert job.items.filter(outcome=ImportItem.PENDING).count() == 3
    ImportJob.objects.filter(pk=job.pk).update(claimed_until=timezone.now())  # lease expired

    assert services.imports_resume() == [job.pk]
    job = services.import_run(job_id=job.pk)

    assert (job.status, job.imported, job.done) == ("done", 3, 3)
    assert sorted(Group.objects.values_list("name", flat=True)) == ["Alpha", "Beta", "Gamma"]
    assert Event.objects.filter(type="group_import", outcome="success").count() == 3
    assert GroupBinding.objects.count() == 3


# --- members bound after their group was imported -------------------------------------------


def sales_members(tenant, groups) -> set[str]:
    """The Microsoft group's members, read from Graph (no write)."""
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        return {m["id"] for m in client.items(f"/groups/{groups['sales']['id']}/members")}


def test_a_member_imported_later_joins_the_imported_group_and_nothing_is_written(
    alice, ms, tenant, directory_
):
    people, groups = directory_
    domain = ms["domain"]
    imported(alice, tenant, users=[f"ann@{domain}"], groups=["Sales"])  # Cal left out
    group = Group.objects.get(name="Sales")
    mark = log_mark(ms)

    job = imported(alice, tenant, users=[f"cal@{domain}"])

    assert job.imported == 1
    assert {u.email for u in group.members.all()} == {f"ann@{domain}", f"cal@{domain}"}
    cal = group.members.get(email=f"cal@{domain}")
    event = Event.objects.get(type="user_import", target_id=str(cal.pk))
    assert event.details["groups_joined"] == [{"id": group.pk, "name": "Sales"}]
    joined = Event.objects.get(type="group_member_add", details__user_email=f"cal@{domain}")
    assert joined.target_id == str(group.pk) and joined.actor_id == alice.pk
    item = ImportJob.objects.get(groups=1).items.get(kind="group")  # its report stands
    assert people["cal"]["id"] in {m["microsoft_id"] for m in item.members_left_out}
    binding = GroupBinding.objects.get(group=group)
    assert not binding.needs_sync  # Microsoft already has Cal: nothing to send
    sync(tenant)  # nor anything for Gus, still left out
    run = reconciled(tenant)

    assert run.corrected == 0, run.note
    binding.refresh_from_db()
    assert not binding.needs_sync and binding.drift == {}
    assert writes(ms, mark) == []
    assert sales_members(tenant, groups) == {people[n]["id"] for n in ("ann", "cal", "gus")}


def test_a_member_imported_later_stays_in_the_microsoft_group_when_stratus_next_syncs_it(
    alice, ms, tenant, directory_
):
    people, groups = directory_
    domain = ms["domain"]
    imported(alice, tenant, groups=["Sales"])  # nobody imported yet
    imported(alice, tenant, users=[f"ann@{domain}", f"cal@{domain}"])
    group = Group.objects.get(name="Sales")

    directory_services.group_update(actor=alice, group=group, description="Sells it all")
    sync(tenant)

    assert sales_members(tenant, groups) == {people["ann"]["id"], people["cal"]["id"]}  # Gus: G1


def test_a_conflict_linked_later_joins_the_imported_group_and_nothing_is_written(
    acme, alice, ms, tenant, directory_
):
    people, groups = directory_
    domain = ms["domain"]
    lee = add_account(
        ms, "lee", displayName="Lee Long", givenName="Lee", surname="Long", mail=f"lee@{domain}"
    )
    with tenant_graph_session(tenant=tenant, budget=False) as client:  # an admin adds Lee
        client.post(
            f"/groups/{groups['sales']['id']}/members/$ref",
            {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{lee['id']}"},
        )
    user = employee(acme, alice, ms, "lee", first_name="Lee", last_name="Long")
    reconciled(tenant)
    row = mirrored(tenant, f"lee@{domain}")
    assert row.status == "conflict"
    imported(alice, tenant, users=[f"ann@{domain}"], groups=["Sales"])  # Lee left out
    group = Group.objects.get(name="Sales")
    mark = log_mark(ms)

    services.mirrored_user_link(actor=alice, tenant=tenant, row=row, user=user)

    assert set(group.members.all()) == {user, User.objects.get(email=f"ann@{domain}")}
    event = Event.objects.get(type="m365_import_link", target_id=str(user.pk))
    assert event.details["groups_joined"] == [{"id": group.pk, "name": "Sales"}]
    assert Event.objects.filter(type="group_member_add", details__user_id=user.pk).count() == 1
    assert not GroupBinding.objects.get(group=group).needs_sync
    sync(tenant)  # the link's own sync: Stratus's values, the same as Microsoft's
    run = reconciled(tenant)

    assert run.corrected == 0, run.note
    assert writes(ms, mark) == []
    assert lee["id"] in sales_members(tenant, groups)


def test_a_user_who_is_not_a_member_in_microsoft_joins_no_group(alice, ms, tenant, directory_):
    people, _ = directory_
    domain = ms["domain"]
    add_account(ms, "dan")
    reconciled(tenant)
    imported(alice, tenant, users=[f"ann@{domain}"], groups=["Sales"])
    group = Group.objects.get(name="Sales")

    imported(alice, tenant, users=[f"cal@{domain}", f"dan@{domain}"])

    dan = User.objects.get(email=f"dan@{domain}")
    assert not dan.security_groups.exists()
    assert (
        "groups_joined" not in Event.objects.get(type="user_import", target_id=str(dan.pk)).details
    )
    assert {u.email for u in group.members.all()} == {f"ann@{domain}", f"cal@{domain}"}


def test_a_member_microsoft_no_longer_has_is_sent_by_the_next_sync(alice, ms, tenant, directory_):
    """Stratus removed Cal from the group (not imported then) before the mirror read the
    group again: joining Cal now is a change Microsoft has not had, so the sync adds it."""
    people, groups = directory_
    domain = ms["domain"]
    imported(alice, tenant, users=[f"ann@{domain}"], groups=["Sales"])
    group = Group.objects.get(name="Sales")
    directory_services.group_update(actor=alice, group=group, description="Sells it all")
    sync(tenant)
    assert sales_members(tenant, groups) == {people["ann"]["id"]}

    imported(alice, tenant, users=[f"cal@{domain}"])

    assert GroupBinding.objects.get(group=group).needs_sync
    sync(tenant)
    assert sales_members(tenant, groups) == {people["ann"]["id"], people["cal"]["id"]}


def test_a_member_imported_one_by_one_after_a_race_joins_the_group_too(
    acme, alice, ms, tenant, directory_, monkeypatch
):
    """An email taken while the chunk imports sends it one user at a time: the member
    joins its group on that path as well."""
    domain = ms["domain"]
    add_account(ms, "raced")
    reconciled(tenant)
    imported(alice, tenant, users=[f"ann@{domain}"], groups=["Sales"])
    email_taken_after_planning(monkeypatch, acme, alice, ms, "raced")

    job = imported(alice, tenant, users=[f"cal@{domain}", f"raced@{domain}"])

    assert (job.imported, job.failed) == (1, 1)
    group = Group.objects.get(name="Sales")
    assert {u.email for u in group.members.all()} == {f"ann@{domain}", f"cal@{domain}"}
    cal = User.objects.get(email=f"cal@{domain}")
    event = Event.objects.get(type="user_import", target_id=str(cal.pk))
    assert event.details["groups_joined"] == [{"id": group.pk, "name": "Sales"}]
    assert not GroupBinding.objects.get(group=group).needs_sync


def _import_queries(alice, ms, tenant, names) -> int:
    domain = ms["domain"]
    job = services.import_start(
        actor=alice,
        tenant=tenant,
        microsoft_ids=[mirrored(tenant, f"{n}@{domain}").microsoft_id for n in names],
    )
    with CaptureQueriesContext(connection) as queries:
        services.import_run(job_id=job.pk)
    return len(queries)


def test_importing_a_chunk_of_members_costs_the_same_queries_at_5_and_25_users(alice, ms, tenant):
    people = [add_account(ms, f"m{i:02}") for i in range(30)]
    add_group(ms, "Even", people[::2])
    add_group(ms, "Odd", people[1::2])
    reconciled(tenant)
    imported(alice, tenant, groups=["Even", "Odd"])  # every member left out

    few = _import_queries(alice, ms, tenant, [f"m{i:02}" for i in range(5)])
    many = _import_queries(alice, ms, tenant, [f"m{i:02}" for i in range(5, 30)])

    assert Group.objects.get(name="Even").members.count() == 15
    assert Group.objects.get(name="Odd").members.count() == 15
    assert many == few, (few, many)
