"""Reconcile of bound security groups against graphsim over HTTPS (G1, P5): a member
added to a bound group directly in Microsoft 365 is removed again on the next reconcile,
one removed there is added back, a rename there is put back; only the difference is
written, the events say it was drift, and with nothing changed the groups cost the
reconcile one request and no write. The drift is made with a Graph client holding the
tenant's token, exactly as an admin's tool would."""

import time

from audit.models import Event
from directory import services as directory_services
from m365bridge import services
from m365bridge.models import GroupBinding, Tenant, UserBinding
from m365bridge.sync import group_reconcile, reconcile
from m365bridge.tenants import tenant_graph_session

from .provisioning import employee, graph_log, log_mark, sync

pytest_plugins = ["tests.m365bridge.provisioning"]  # its fixtures: ms, tenant, queued, ...


def bound_group(acme, alice, ms, tenant, *, members, others=(), description="Builds things"):
    """A bound group "Engineering" with `members`, and bound users `others` outside it."""
    users = {}
    for name in (*members, *others):
        users[name] = employee(acme, alice, ms, name)
        services.user_bind(actor=alice, tenant=tenant, user=users[name])
    group = directory_services.group_create(
        actor=alice, organization=acme, name="Engineering", description=description
    )
    for name in members:
        directory_services.group_member_add(actor=alice, group=group, user=users[name])
    binding = services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    binding.refresh_from_db()
    assert binding.state == GroupBinding.PROVISIONED and not binding.needs_sync
    return binding, users


def microsoft_id(user) -> str:
    return UserBinding.objects.get(user=user).microsoft_id


def reconciled(tenant):
    return reconcile.tenant_reconcile(tenant_id=tenant.pk)


def baseline(tenant):
    run = reconciled(tenant)
    assert run.outcome == "succeeded" and run.corrected == 0, run.note
    assert group_reconcile.FIRST_READ in run.note
    return run


def as_microsoft_admin(tenant):
    return tenant_graph_session(tenant=tenant, budget=False)


def microsoft_members(tenant, group_id) -> set[str]:
    with as_microsoft_admin(tenant) as client:
        return {m["id"] for m in client.items(f"/groups/{group_id}/members")}


def microsoft_group(tenant, group_id) -> dict:
    with as_microsoft_admin(tenant) as client:
        return client.get(f"/groups/{group_id}")


def add_in_microsoft(tenant, group_id, user_id):
    with as_microsoft_admin(tenant) as client:
        client.post(
            f"/groups/{group_id}/members/$ref",
            {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"},
        )


def remove_in_microsoft(tenant, group_id, user_id):
    with as_microsoft_admin(tenant) as client:
        client.delete(f"/groups/{group_id}/members/{user_id}/$ref")


def writes(ms, since):
    return [(r["method"], r["path"]) for r in graph_log(ms, since) if r["method"] != "GET"]


def drift_events(type_):
    return [e for e in Event.objects.filter(type=type_) if e.details.get("reason") == "drift"]


def test_a_member_added_to_a_bound_group_in_microsoft_is_removed_on_the_next_reconcile(
    acme, alice, ms, tenant, queued
):
    binding, users = bound_group(acme, alice, ms, tenant, members=["ann"], others=["ben"])
    baseline(tenant)
    add_in_microsoft(tenant, binding.microsoft_id, microsoft_id(users["ben"]))
    queued.clear()

    run = reconciled(tenant)

    assert run.outcome == "succeeded" and run.corrected == 1 and queued == [tenant.pk]
    binding.refresh_from_db()
    assert binding.needs_sync and binding.drift == {"members": True}
    mark = log_mark(ms)
    sync(tenant)

    ben_id = microsoft_id(users["ben"])
    assert writes(ms, mark) == [
        ("DELETE", f"/v1.0/groups/{binding.microsoft_id}/members/{ben_id}/$ref")
    ]
    assert microsoft_members(tenant, binding.microsoft_id) == {microsoft_id(users["ann"])}
    [event] = drift_events("group_members_provision")
    assert event.details["removed_ids"] == [ben_id] and event.details["added_ids"] == []
    assert event.actor is None
    binding.refresh_from_db()
    assert binding.drift == {} and not binding.needs_sync
    assert binding.known_members == [microsoft_id(users["ann"])]


def test_a_member_removed_from_a_bound_group_in_microsoft_is_added_back(acme, alice, ms, tenant):
    binding, users = bound_group(acme, alice, ms, tenant, members=["ann", "ben"])
    baseline(tenant)
    ben_id = microsoft_id(users["ben"])
    remove_in_microsoft(tenant, binding.microsoft_id, ben_id)

    run = reconciled(tenant)
    mark = log_mark(ms)
    sync(tenant)

    assert run.corrected == 1
    assert writes(ms, mark) == [("POST", f"/v1.0/groups/{binding.microsoft_id}/members/$ref")]
    assert microsoft_members(tenant, binding.microsoft_id) == {
        microsoft_id(users["ann"]),
        ben_id,
    }
    [event] = drift_events("group_members_provision")
    assert event.details["added_ids"] == [ben_id] and event.details["removed_ids"] == []


def test_a_bound_group_renamed_in_microsoft_gets_its_name_and_description_back(
    acme, alice, ms, tenant
):
    binding, _ = bound_group(acme, alice, ms, tenant, members=["ann"])
    baseline(tenant)
    with as_microsoft_admin(tenant) as client:
        client.patch(
            f"/groups/{binding.microsoft_id}",
            {"displayName": "Renamed there", "description": "Not ours"},
        )

    run = reconciled(tenant)
    mark = log_mark(ms)
    sync(tenant)

    assert run.corrected == 1
    assert writes(ms, mark) == [("PATCH", f"/v1.0/groups/{binding.microsoft_id}")]
    found = microsoft_group(tenant, binding.microsoft_id)
    assert (found["displayName"], found["description"]) == ("Engineering", "Builds things")
    [event] = drift_events("group_update_provision")
    assert event.details["drifted"] == ["description", "displayName"]
    assert event.details["properties"] == ["description", "displayName"]
    assert not drift_events("group_members_provision")


def test_a_description_set_in_microsoft_on_a_group_without_one_is_cleared(acme, alice, ms, tenant):
    binding, _ = bound_group(acme, alice, ms, tenant, members=["ann"], description="")
    baseline(tenant)
    with as_microsoft_admin(tenant) as client:
        client.patch(f"/groups/{binding.microsoft_id}", {"description": "Added there"})

    reconciled(tenant)
    sync(tenant)

    assert microsoft_group(tenant, binding.microsoft_id)["description"] is None
    [event] = drift_events("group_update_provision")
    assert event.details["drifted"] == ["description"]


def test_with_nothing_changed_bound_groups_cost_one_request_and_no_write(acme, alice, ms, tenant):
    binding, _ = bound_group(acme, alice, ms, tenant, members=["ann", "ben"], others=["cid"])
    baseline(tenant)
    mark = log_mark(ms)

    run = reconciled(tenant)
    sync(tenant)

    assert (run.outcome, run.requests, run.corrected) == ("succeeded", 2, 0)
    assert [(r["method"], r["path"].split("?")[0]) for r in graph_log(ms, mark)] == [
        ("GET", "/v1.0/users/delta"),
        ("GET", "/v1.0/groups/delta"),
    ]
    assert not GroupBinding.objects.filter(needs_sync=True).exists()
    assert not drift_events("group_members_provision")


def test_stratus_own_group_changes_are_not_taken_for_drift(acme, alice, ms, tenant):
    binding, users = bound_group(acme, alice, ms, tenant, members=["ann"], others=["ben"])
    baseline(tenant)
    directory_services.group_member_add(actor=alice, group=binding.group, user=users["ben"])
    directory_services.group_update(actor=alice, group=binding.group, name="Platform")
    sync(tenant)
    mark = log_mark(ms)

    run = reconciled(tenant)
    sync(tenant)

    assert run.corrected == 0, run.note
    assert writes(ms, mark) == []
    assert not GroupBinding.objects.filter(needs_sync=True).exists()


def test_groups_are_read_every_run_and_cost_one_request_with_nothing_changed(
    acme, alice, ms, tenant
):
    """The group mirror (issue 12, I3) needs `groups/delta` even without bound groups:
    the first run reads every group, later runs one delta request each."""
    ann = employee(acme, alice, ms, "ann")
    services.user_bind(actor=alice, tenant=tenant, user=ann)
    sync(tenant)

    first = reconciled(tenant)
    mark = log_mark(ms)
    run = reconciled(tenant)

    assert group_reconcile.FIRST_READ in first.note
    assert run.requests == 2 and group_reconcile.FIRST_READ not in run.note
    paths = [r["path"].split("?")[0] for r in graph_log(ms, mark)]
    assert paths == ["/v1.0/users/delta", "/v1.0/groups/delta"]
    assert Tenant.objects.get(pk=tenant.pk).group_delta_link


def test_drift_already_there_at_the_first_read_is_corrected(acme, alice, ms, tenant):
    binding, users = bound_group(acme, alice, ms, tenant, members=["ann"], others=["ben"])
    add_in_microsoft(tenant, binding.microsoft_id, microsoft_id(users["ben"]))

    run = reconciled(tenant)
    sync(tenant)

    assert group_reconcile.FIRST_READ in run.note and run.corrected == 1
    assert microsoft_members(tenant, binding.microsoft_id) == {microsoft_id(users["ann"])}
    assert Tenant.objects.get(pk=tenant.pk).group_delta_link


def test_an_expired_groups_delta_link_falls_back_to_a_full_read(acme, alice, ms, tenant):
    binding, users = bound_group(acme, alice, ms, tenant, members=["ann", "ben"])
    baseline(tenant)
    old_link = Tenant.objects.get(pk=tenant.pk).group_delta_link
    remove_in_microsoft(tenant, binding.microsoft_id, microsoft_id(users["ben"]))
    ms["control"].set_time_scale(ms["id"], 7 * 24 * 3600)  # delta links now live 1 s
    try:
        time.sleep(1.2)
        run = reconciled(tenant)
    finally:
        ms["control"].set_time_scale(ms["id"], 1)

    assert run.outcome == "succeeded", run.note
    assert group_reconcile.LINK_EXPIRED in run.note and run.corrected == 1
    new_link = Tenant.objects.get(pk=tenant.pk).group_delta_link
    assert new_link and new_link != old_link
    sync(tenant)
    assert microsoft_id(users["ben"]) in microsoft_members(tenant, binding.microsoft_id)


def test_a_group_being_synced_while_read_is_read_again_at_the_next_reconcile(
    acme, alice, ms, tenant
):
    binding, users = bound_group(acme, alice, ms, tenant, members=["ann"], others=["ben"])
    baseline(tenant)
    old_link = Tenant.objects.get(pk=tenant.pk).group_delta_link
    add_in_microsoft(tenant, binding.microsoft_id, microsoft_id(users["ben"]))
    claimed = GroupBinding.objects.filter(pk=binding.pk)
    claimed.update(claim_token="x" * 32, claimed_until=binding.created_at.replace(year=2999))

    busy = reconciled(tenant)

    assert busy.corrected == 0 and group_reconcile.BUSY in busy.note
    assert Tenant.objects.get(pk=tenant.pk).group_delta_link == old_link
    claimed.update(claim_token="", claimed_until=None)
    again = reconciled(tenant)
    sync(tenant)
    assert again.corrected == 1
    assert microsoft_members(tenant, binding.microsoft_id) == {microsoft_id(users["ann"])}
