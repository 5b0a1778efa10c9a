"""Bound security groups deleted in Microsoft 365 come back (against graphsim): a
reconcile that reads the deletion, or a write answered 404, makes the next sync ask for
a restore from deleted items (our own object, by its id) and, as Microsoft deletes
security groups for good, create the group again with its members."""

from audit.models import Event
from directory import services as directory_services
from m365bridge.models import GroupBinding

from .provisioning import graph_log, log_mark, sync
from .test_group_reconcile import (
    as_microsoft_admin,
    baseline,
    bound_group,
    microsoft_id,
    microsoft_members,
    reconciled,
)

pytest_plugins = ["tests.m365bridge.provisioning"]


def delete_in_microsoft(tenant, group_id):
    with as_microsoft_admin(tenant) as client:
        client.delete(f"/groups/{group_id}")


def test_a_group_deleted_in_microsoft_is_created_again_with_its_members(acme, alice, ms, tenant):
    binding, users = bound_group(acme, alice, ms, tenant, members=("ann", "ben"))
    baseline(tenant)
    old_id = binding.microsoft_id
    delete_in_microsoft(tenant, old_id)

    run = reconciled(tenant)
    assert run.outcome == "succeeded" and run.corrected == 1, run.note
    binding.refresh_from_db()
    assert binding.needs_sync and binding.drift == {"missing": True}
    mark = log_mark(ms)
    sync(tenant)

    binding.refresh_from_db()
    assert binding.microsoft_id and binding.microsoft_id != old_id
    assert binding.state == GroupBinding.PROVISIONED and not binding.needs_sync
    assert binding.drift == {}
    wanted = {microsoft_id(users["ann"]), microsoft_id(users["ben"])}
    assert microsoft_members(tenant, binding.microsoft_id) == wanted
    assert sorted(binding.known_members) == sorted(wanted)
    paths = [(row["method"], row["path"]) for row in graph_log(ms, mark)]
    assert any(m == "POST" and p.endswith(f"deletedItems/{old_id}/restore") for m, p in paths)
    [event] = Event.objects.filter(type="group_create_provision", details__recreated=True)
    assert event.details["replaces"] == old_id

    sync(tenant)  # nothing more to do: nothing sent twice
    assert Event.objects.filter(type="group_create_provision").count() == 2


def test_a_rename_answered_404_recreates_the_group_under_its_new_name(acme, alice, ms, tenant):
    binding, users = bound_group(acme, alice, ms, tenant, members=("cy",))
    old_id = binding.microsoft_id
    delete_in_microsoft(tenant, old_id)
    directory_services.group_update(actor=alice, group=binding.group, name="Platform")

    sync(tenant)

    binding.refresh_from_db()
    assert binding.microsoft_id != old_id and not binding.needs_sync
    with as_microsoft_admin(tenant) as client:
        group = client.get(f"/groups/{binding.microsoft_id}")
    assert group["displayName"] == "Platform"
    assert microsoft_members(tenant, binding.microsoft_id) == {microsoft_id(users["cy"])}
