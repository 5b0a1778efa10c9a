"""Security groups against graphsim over HTTPS (G1): a bound group becomes a security
group whose members are the group's members that have an account in the tenant; name
and member changes follow, only the difference is sent, and a second sync sends nothing.
The console action to sync a group, and who may use it."""

import uuid

import pytest
from django.urls import reverse

from audit.models import Event
from directory import services as directory_services
from m365bridge import services
from m365bridge.models import GroupBinding, UserBinding
from m365bridge.sync import plan
from m365bridge.tenants import tenant_graph_session

from .provisioning import employee, graph_log, log_mark, sync

pytest_plugins = ["tests.m365bridge.provisioning"]  # its fixtures: ms, tenant, queued, ...


def microsoft_group(tenant, microsoft_id) -> tuple[dict, set[str]]:
    """The group as Microsoft has it, and its members' ids."""
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        group = client.get(f"/groups/{microsoft_id}")
        members = {m["id"] for m in client.items(f"/groups/{microsoft_id}/members")}
    return group, members


def bound_employee(acme, alice, ms, tenant, name):
    user = employee(acme, alice, ms, name)
    services.user_bind(actor=alice, tenant=tenant, user=user)
    return user


def microsoft_id(user) -> str:
    return UserBinding.objects.get(user=user).microsoft_id


def group_with(acme, alice, name, members, description=""):
    group = directory_services.group_create(
        actor=alice, organization=acme, name=name, description=description
    )
    for user in members:
        directory_services.group_member_add(actor=alice, group=group, user=user)
    return group


def events(type_, outcome="success"):
    return list(Event.objects.filter(type=type_, outcome=outcome).order_by("pk"))


def test_a_bound_group_becomes_a_security_group_with_its_members_that_have_an_account(
    acme, alice, ms, tenant
):
    ann = bound_employee(acme, alice, ms, tenant, "ann")
    ben = bound_employee(acme, alice, ms, tenant, "ben")
    outsider = employee(acme, alice, ms, "cid")  # a member, but not bound to the tenant
    group = group_with(acme, alice, "Engineering", [ann, ben, outsider], "Builds things")

    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    result = sync(tenant)  # creates the accounts first, then the group

    binding.refresh_from_db()
    assert binding.state == GroupBinding.PROVISIONED and not binding.needs_sync
    found, members = microsoft_group(tenant, binding.microsoft_id)
    assert found["securityEnabled"] is True and found["mailEnabled"] is False
    assert found["groupTypes"] == []
    assert found["displayName"] == "Engineering" and found["description"] == "Builds things"
    assert members == {microsoft_id(ann), microsoft_id(ben)}
    assert sorted(binding.known_members) == sorted(members)
    assert result.counts.get("group_create") == 1
    [created] = events("group_create_provision")
    assert created.details["microsoft_id"] == binding.microsoft_id
    assert created.actor == alice
    [added] = events("group_members_provision")
    assert added.details["added"] == 2 and added.details["removed"] == 0
    assert sorted(added.details["added_ids"]) == sorted(members)


def test_a_second_sync_sends_nothing_and_records_no_event(acme, alice, ms, tenant):
    ann = bound_employee(acme, alice, ms, tenant, "ann")
    group = group_with(acme, alice, "Sales", [ann])
    services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    before = Event.objects.count()
    GroupBinding.objects.update(needs_sync=True)  # even when marked dirty again
    mark = log_mark(ms)

    sync(tenant)

    assert graph_log(ms, mark) == []
    assert Event.objects.count() == before
    assert not GroupBinding.objects.get().needs_sync


def test_adding_and_removing_a_member_in_stratus_adds_and_removes_only_that_member(
    acme, alice, ms, tenant, sent_batches
):
    ann = bound_employee(acme, alice, ms, tenant, "ann")
    ben = bound_employee(acme, alice, ms, tenant, "ben")
    group = group_with(acme, alice, "Support", [ann])
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    binding.refresh_from_db()
    sent_batches.clear()

    directory_services.group_member_add(actor=alice, group=group, user=ben)
    directory_services.group_member_remove(actor=alice, group=group, user=ann)
    assert GroupBinding.objects.get().needs_sync
    sync(tenant)

    assert sorted((m, u) for m, u, _ in sent_batches) == [
        ("DELETE", f"/groups/{binding.microsoft_id}/members/{microsoft_id(ann)}/$ref"),
        ("POST", f"/groups/{binding.microsoft_id}/members/$ref"),
    ]
    _, members = microsoft_group(tenant, binding.microsoft_id)
    assert members == {microsoft_id(ben)}
    last = events("group_members_provision")[-1]
    assert last.details["added_ids"] == [microsoft_id(ben)]
    assert last.details["removed_ids"] == [microsoft_id(ann)]


def test_a_member_bound_later_joins_the_group_once_their_account_exists(acme, alice, ms, tenant):
    ann = employee(acme, alice, ms, "ann")
    group = group_with(acme, alice, "Ops", [ann])
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    binding.refresh_from_db()
    assert binding.known_members == []

    services.user_bind(actor=alice, tenant=tenant, user=ann)
    sync(tenant)

    _, members = microsoft_group(tenant, binding.microsoft_id)
    assert members == {microsoft_id(ann)}


def test_unbinding_a_member_removes_their_account_from_the_group(acme, alice, ms, tenant):
    ann = bound_employee(acme, alice, ms, tenant, "ann")
    group = group_with(acme, alice, "Legal", [ann])
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    binding.refresh_from_db()
    ann_id = microsoft_id(ann)

    services.user_unbind(actor=alice, user=ann)
    sync(tenant)

    _, members = microsoft_group(tenant, binding.microsoft_id)
    assert members == set()
    assert events("group_members_provision")[-1].details["removed_ids"] == [ann_id]


def test_renaming_the_group_patches_its_display_name_only(acme, alice, ms, tenant, sent_batches):
    group = group_with(acme, alice, "Finance", [])
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    binding.refresh_from_db()
    mark = log_mark(ms)

    directory_services.group_update(actor=alice, group=group, name="Finance & Tax")
    sync(tenant)

    writes = graph_log(ms, mark)
    assert [(r["method"], r["path"], r["status"]) for r in writes] == [
        ("PATCH", f"/v1.0/groups/{binding.microsoft_id}", 204)
    ]
    found, _ = microsoft_group(tenant, binding.microsoft_id)
    assert found["displayName"] == "Finance & Tax"
    [updated] = events("group_update_provision")
    assert updated.details["properties"] == ["displayName"]


def test_more_than_twenty_members_are_created_with_twenty_then_added_by_reference(
    acme, alice, ms, tenant, sent_batches
):
    people = [bound_employee(acme, alice, ms, tenant, f"p{i:02d}") for i in range(23)]
    sync(tenant)
    group = group_with(acme, alice, "Everyone", people)
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    mark = log_mark(ms)

    sync(tenant)

    binding.refresh_from_db()
    log = graph_log(ms, mark)
    writes = [(r["method"], r["path"]) for r in log if r["method"] != "GET"]
    assert writes[0] == ("POST", "/v1.0/groups")
    assert writes[1:] == [("POST", f"/v1.0/groups/{binding.microsoft_id}/members/$ref")] * 3
    _, members = microsoft_group(tenant, binding.microsoft_id)
    assert members == {microsoft_id(p) for p in people}


def test_a_member_already_there_or_already_gone_counts_as_done(acme, alice, ms, tenant):
    ann = bound_employee(acme, alice, ms, tenant, "ann")
    ben = bound_employee(acme, alice, ms, tenant, "ben")
    group = group_with(acme, alice, "Design", [ann])
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    binding.refresh_from_db()
    # An admin added ben in Microsoft 365 and removed ann there, before Stratus did.
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        client.post(
            f"/groups/{binding.microsoft_id}/members/$ref",
            {"@odata.id": f"{plan.GRAPH_ROOT}/directoryObjects/{microsoft_id(ben)}"},
        )
        client.delete(f"/groups/{binding.microsoft_id}/members/{microsoft_id(ann)}/$ref")

    directory_services.group_member_add(actor=alice, group=group, user=ben)
    directory_services.group_member_remove(actor=alice, group=group, user=ann)
    sync(tenant)

    binding.refresh_from_db()
    assert binding.state == GroupBinding.PROVISIONED and binding.last_error_message == ""
    assert binding.known_members == [microsoft_id(ben)]


def test_a_refused_create_shows_microsofts_reason(acme, alice, ms, tenant):
    ann = bound_employee(acme, alice, ms, tenant, "ann")
    sync(tenant)
    # Stratus believes ann has an account Microsoft does not know (deleted there).
    UserBinding.objects.filter(user=ann).update(microsoft_id=str(uuid.uuid4()))
    group = group_with(acme, alice, "Broken", [ann])
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)

    sync(tenant)

    binding.refresh_from_db()
    assert binding.state == GroupBinding.ERROR and binding.last_error_message
    assert not binding.needs_sync  # not retried by itself: it would fail the same way
    [failed] = events("group_create_provision", outcome="failure")
    assert failed.details["code"] == binding.last_error_code
    assert failed.details["message"] == binding.last_error_message


def test_unbinding_a_group_stops_syncing_and_keeps_the_microsoft_group(acme, alice, ms, tenant):
    ann = bound_employee(acme, alice, ms, tenant, "ann")
    group = group_with(acme, alice, "Keep", [ann])
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    binding.refresh_from_db()

    services.group_unbind(actor=alice, binding=binding)
    directory_services.group_member_remove(actor=alice, group=group, user=ann)
    sync(tenant)

    assert not GroupBinding.objects.exists()
    found, members = microsoft_group(tenant, binding.microsoft_id)
    assert found["displayName"] == "Keep" and members == {microsoft_id(ann)}
    [unbound] = events("m365_group_unbind")
    assert unbound.details["microsoft_group_kept"] is True


# --- console -------------------------------------------------------------------------------


@pytest.fixture
def group(acme, alice):
    return directory_services.group_create(actor=alice, organization=acme, name="Engineering")


def test_the_group_page_offers_to_sync_it_after_a_confirm_step(client, alice, group, tenant):
    client.force_login(alice)
    page = client.get(reverse("console:group_detail", args=[group.pk]))
    assert b'id="group-sync-m365"' in page.content

    confirm = client.get(reverse("m365:group_bind", args=[group.pk]))
    assert confirm.status_code == 200
    assert b"security group" in confirm.content and not GroupBinding.objects.exists()

    response = client.post(reverse("m365:group_bind", args=[group.pk]), {"tenant": tenant.pk})

    assert response.status_code == 302
    binding = GroupBinding.objects.get(group=group)
    assert binding.tenant == tenant and binding.needs_sync
    page = client.get(reverse("console:group_detail", args=[group.pk]))
    assert b'id="m365-group"' in page.content and b"Pending" in page.content


def test_stopping_the_sync_from_the_console_says_the_microsoft_group_stays(
    client, alice, group, tenant
):
    client.force_login(alice)
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    url = reverse("m365:group_unbind", args=[binding.pk])

    confirm = client.get(url)
    assert b"not deleted" in confirm.content

    response = client.post(url)
    assert response.status_code == 302 and not GroupBinding.objects.exists()


def test_another_organizations_admin_gets_404_on_the_group_actions(
    client, alice, charlie, group, tenant
):
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    client.force_login(charlie)

    assert client.get(reverse("m365:group_bind", args=[group.pk])).status_code == 404
    assert client.post(reverse("m365:group_bind", args=[group.pk])).status_code == 404
    assert client.get(reverse("m365:group_unbind", args=[binding.pk])).status_code == 404
    assert client.post(reverse("m365:group_unbind", args=[binding.pk])).status_code == 404
    assert GroupBinding.objects.filter(pk=binding.pk).exists()


def test_a_member_has_no_access_to_the_group_actions(client, alice, bob, group, tenant):
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    client.force_login(bob)

    for url in (
        reverse("m365:group_bind", args=[group.pk]),
        reverse("m365:group_unbind", args=[binding.pk]),
    ):
        assert client.get(url).status_code == 403
        assert client.post(url).status_code == 403
    assert GroupBinding.objects.filter(pk=binding.pk).exists()


def test_the_sweep_resends_a_tenant_whose_group_waits_for_a_lost_task(
    acme, alice, tenant, group, queued
):
    from datetime import timedelta

    from django.utils import timezone

    from m365bridge.sync import runner

    services.group_bind(actor=alice, tenant=tenant, group=group)
    GroupBinding.objects.update(dirty_since=timezone.now() - timedelta(minutes=5))
    queued.clear()

    assert runner.sweep_due_tenants() == [tenant.pk]
    assert queued == [tenant.pk]


def test_deleting_a_synced_group_forgets_it_and_says_the_microsoft_group_stays(
    acme, alice, ms, tenant, group
):
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    binding.refresh_from_db()

    directory_services.group_delete(actor=alice, group=group)

    assert not GroupBinding.objects.exists()
    [unbound] = events("m365_group_unbind")
    assert unbound.details["reason"] == "group_deleted"
    assert unbound.details["microsoft_group_kept"] is True
    found, _ = microsoft_group(tenant, binding.microsoft_id)
    assert found["displayName"] == "Engineering"


def test_syncing_a_group_again_reuses_its_microsoft_group_instead_of_duplicating_it(
    acme, alice, ms, tenant
):
    ann = bound_employee(acme, alice, ms, tenant, "ann")
    ben = bound_employee(acme, alice, ms, tenant, "ben")
    group = group_with(acme, alice, "Again", [ann])
    first = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    first.refresh_from_db()
    services.group_unbind(actor=alice, binding=first)
    directory_services.group_member_add(actor=alice, group=group, user=ben)

    again = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)

    again.refresh_from_db()
    assert again.microsoft_id == first.microsoft_id
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        named = [g for g in client.items("/groups") if g["displayName"] == "Again"]
    assert len(named) == 1
    _, members = microsoft_group(tenant, again.microsoft_id)
    assert members == {microsoft_id(ann), microsoft_id(ben)}
    linked = events("group_create_provision")[-1]
    assert linked.details["linked_existing"] is True


def test_a_create_whose_reply_was_lost_is_linked_on_retry(acme, alice, ms, tenant, monkeypatch):
    ann = bound_employee(acme, alice, ms, tenant, "ann")
    group = group_with(acme, alice, "Lost reply", [ann])
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)  # the user's account first
    binding.refresh_from_db()
    assert binding.microsoft_id
    # As if the worker died after Microsoft's 201: Stratus never recorded the id.
    GroupBinding.objects.filter(pk=binding.pk).update(
        microsoft_id="", known_members=[], known_properties={}, needs_sync=True
    )

    sync(tenant)

    binding.refresh_from_db()
    with tenant_graph_session(tenant=tenant, budget=False) as client:
        named = [g for g in client.items("/groups") if g["displayName"] == "Lost reply"]
    assert [g["id"] for g in named] == [binding.microsoft_id]
