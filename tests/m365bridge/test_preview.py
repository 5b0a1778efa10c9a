"""Previews (dry runs) against graphsim: binding users and "Sync now" say what would be
sent, per account, old → new, planned by the engine's planner; graphsim's request log
shows reads only, and nothing is saved."""

import json

import pytest
from django.urls import reverse

from directory import services as directory_services
from directory.errors import InvalidInput
from m365bridge import services
from m365bridge.models import BindRun, GroupBinding, UserBinding

from .provisioning import employee, graph_log, log_mark, sync

pytest_plugins = ["tests.m365bridge.provisioning"]


def writes_since(ms, mark) -> list[dict]:
    return [row for row in graph_log(ms, mark) if row["write"] or row["method"] != "GET"]


def by_email(preview) -> dict:
    return {item.email: item for item in preview.items}


def test_a_bind_preview_shows_creates_and_take_overs_with_old_and_new_values(
    acme, alice, ms, tenant
):
    new = employee(acme, alice, ms, "nadia", job_title="Engineer")
    known = employee(acme, alice, ms, "kai", job_title="Lead", first_name="Kai")
    ms["control"].admin_create_user(
        ms["id"],
        known.email,
        password="Old-Passw0rd!x",
        displayName="K. Old",
        jobTitle="Intern",
        givenName="Kai",
    )
    mark = log_mark(ms)

    preview = services.users_bind_preview(tenant=tenant, users=[new, known])

    items = by_email(preview)
    assert items[new.email].action == "create" and items[new.email].password_set
    assert items[new.email].changes["jobTitle"] == {"old": None, "new": "Engineer"}
    assert items[new.email].changes["accountEnabled"] == {"old": None, "new": True}
    took = items[known.email]
    assert took.action == "take_over"
    assert took.changes["jobTitle"] == {"old": "Intern", "new": "Lead"}
    assert took.changes["displayName"] == {"old": "K. Old", "new": "Kai Example"}
    assert "givenName" not in took.changes  # the same in both: nothing to overwrite
    assert preview.totals == {"accounts": 2, "create": 1, "take_over": 1}
    assert not writes_since(ms, mark)
    assert preview.reads == 2 and len(graph_log(ms, mark)) == 2  # one $batch of 2 GETs
    assert not UserBinding.objects.exists() and not BindRun.objects.exists()
    assert "password" not in json.dumps([i.changes for i in preview.items]).lower()


def test_the_sync_now_preview_is_what_the_sync_then_sends(acme, alice, ms, tenant, sent_batches):
    staff = [employee(acme, alice, ms, name) for name in ("ann", "ben", "cy")]
    services.users_bind(actor=alice, tenant=tenant, users=staff)
    sync(tenant)
    directory_services.user_suspend(actor=alice, user=staff[0])
    directory_services.user_update(actor=alice, user=staff[1], job_title="Director")
    mark = log_mark(ms)

    preview = services.tenant_sync_preview(tenant=tenant)

    items = by_email(preview)
    assert items[staff[0].email].action == "block"
    assert items[staff[0].email].changes == {"accountEnabled": {"old": True, "new": False}}
    assert items[staff[1].email].action == "update"
    assert items[staff[1].email].changes == {"jobTitle": {"old": None, "new": "Director"}}
    assert staff[2].email not in items  # nothing waiting for it
    assert not writes_since(ms, mark)
    assert UserBinding.objects.filter(needs_sync=True).count() == 2

    sent_batches.clear()
    sync(tenant)
    patches = {url: body for method, url, body in sent_batches if method == "PATCH"}
    ids = {u.email: UserBinding.objects.get(user=u).microsoft_id for u in staff}
    assert patches == {
        f"/users/{ids[staff[0].email]}": {"accountEnabled": False},
        f"/users/{ids[staff[1].email]}": {"jobTitle": "Director"},
    }


def test_a_preview_of_nobody_or_of_another_organizations_user(
    acme, alice, ms, tenant, globex, charlie
):
    with pytest.raises(InvalidInput) as refused:
        services.users_bind_preview(tenant=tenant, users=[])
    assert list(refused.value.fields) == ["user_ids"]

    preview = services.users_bind_preview(tenant=tenant, users=[charlie])
    [item] = preview.items
    assert item.action == "refused" and item.message == "No such user."
    assert preview.reads == 0


def test_dry_run_on_the_bind_and_sync_endpoints_returns_the_plan(
    client, acme, alice, ms, tenant, charlie
):
    user = employee(acme, alice, ms, "dora", job_title="Chef")
    _, secret = directory_services.api_key_create(actor=alice, organization=acme, name="ci")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    url = f"/api/v1/m365/tenants/{tenant.pk}/users?dry_run=true"
    mark = log_mark(ms)

    body = client.post(url, {"user_ids": [user.pk]}, content_type="application/json", **auth)
    assert body.status_code == 200, body.content
    plan = body.json()
    assert plan["dry_run"] is True and plan["totals"] == {"accounts": 1, "create": 1}
    assert plan["items"][0]["changes"]["jobTitle"] == {"old": None, "new": "Chef"}
    assert not UserBinding.objects.exists()

    foreign = client.post(
        url, {"user_ids": [user.pk, charlie.pk]}, content_type="application/json", **auth
    )
    assert foreign.status_code == 400
    assert "user_ids" in foreign.json()["error"]["fields"]

    services.users_bind(actor=alice, tenant=tenant, users=[user])
    sync_url = f"/api/v1/m365/tenants/{tenant.pk}/sync?dry_run=true"
    waiting = client.post(sync_url, **auth).json()
    assert waiting["totals"] == {"accounts": 1, "create": 1}
    bad = client.post(f"/api/v1/m365/tenants/{tenant.pk}/sync?dry_run=maybe", **auth)
    assert bad.status_code == 400 and "dry_run" in bad.json()["error"]["fields"]
    assert not writes_since(ms, mark)


def test_the_console_previews_a_bulk_bind_a_single_bind_and_a_sync(client, acme, alice, ms, tenant):
    ada = employee(acme, alice, ms, "ada", job_title="Analyst")
    bo = employee(acme, alice, ms, "bo")
    client.force_login(alice)
    mark = log_mark(ms)

    page = client.post(
        reverse("m365:users_bind"), {"user_ids": [ada.pk, bo.pk], "preview": "1"}
    ).content.decode()
    assert "data-preview-totals" in page and "create: 2" in page
    assert "<code>jobTitle</code>: — → Analyst" in page
    single = client.get(reverse("m365:user_bind", args=[ada.pk]), {"preview": "1"})
    assert "<code>jobTitle</code>: — → Analyst" in single.content.decode()
    assert not UserBinding.objects.exists()
    assert not writes_since(ms, mark)

    services.users_bind(actor=alice, tenant=tenant, users=[ada, bo])
    sync(tenant)
    directory_services.user_suspend(actor=alice, user=bo)
    mark = log_mark(ms)
    waiting = client.get(reverse("m365:sync_preview", args=[tenant.pk])).content.decode()
    assert bo.email in waiting and "block" in waiting
    assert "<code>accountEnabled</code>: True → False" in waiting
    assert not writes_since(ms, mark)
    assert UserBinding.objects.get(user=bo).needs_sync


def test_a_group_preview_shows_the_group_created_then_renamed_and_its_members(
    client, acme, alice, ms, tenant
):
    ann, ben, cy = (employee(acme, alice, ms, n) for n in ("ann", "ben", "cy"))
    services.users_bind(actor=alice, tenant=tenant, users=[ann, ben, cy])
    sync(tenant)
    group = directory_services.group_create(actor=alice, organization=acme, name="Ops")
    for user in (ann, ben):
        directory_services.group_member_add(actor=alice, group=group, user=user)
    mark = log_mark(ms)

    first = services.group_bind_preview(tenant=tenant, group=group)
    [item] = first.items
    assert item.action == "create" and item.changes["displayName"] == {"old": None, "new": "Ops"}
    assert sorted(item.members_added) == sorted([ann.email, ben.email])
    assert first.totals == {"groups": 1, "create": 1, "members_added": 2, "members_removed": 0}

    services.group_bind(actor=alice, tenant=tenant, group=group)
    sync(tenant)
    directory_services.group_update(actor=alice, group=group, name="Operations")
    directory_services.group_member_remove(actor=alice, group=group, user=ann)
    directory_services.group_member_add(actor=alice, group=group, user=cy)
    mark = log_mark(ms)

    client.force_login(alice)
    page = client.get(reverse("m365:group_bind", args=[group.pk]), {"preview": tenant.pk})
    html = page.content.decode()
    assert "<code>displayName</code>: Ops → Operations" in html
    assert f"Members added: {cy.email}" in html and f"Members removed: {ann.email}" in html
    assert "<code>members</code>: 2 → 2" in html
    assert not writes_since(ms, mark)


def test_the_sync_now_preview_includes_the_pending_groups_and_the_sync_sends_exactly_those(
    client, acme, alice, ms, tenant, sent_batches, monkeypatch
):
    from m365bridge.graph.client import GraphClient

    ann, ben, cy, dee = (employee(acme, alice, ms, n) for n in ("ann", "ben", "cy", "dee"))
    services.users_bind(actor=alice, tenant=tenant, users=[ann, ben, cy, dee])
    sync(tenant)
    ops = directory_services.group_create(actor=alice, organization=acme, name="Ops")
    for user in (ann, ben):
        directory_services.group_member_add(actor=alice, group=ops, user=user)
    services.group_bind(actor=alice, tenant=tenant, group=ops)
    sync(tenant)
    directory_services.group_member_remove(actor=alice, group=ops, user=ann)
    directory_services.group_member_add(actor=alice, group=ops, user=cy)
    sales = directory_services.group_create(actor=alice, organization=acme, name="Sales")
    for user in (ben, dee):
        directory_services.group_member_add(actor=alice, group=sales, user=user)
    services.group_bind(actor=alice, tenant=tenant, group=sales)
    directory_services.user_update(actor=alice, user=dee, job_title="Buyer")
    ids = {u.email: UserBinding.objects.get(user=u).microsoft_id for u in (ann, ben, cy, dee)}
    mark = log_mark(ms)

    preview = services.tenant_sync_preview(tenant=tenant)
    _, secret = directory_services.api_key_create(actor=alice, organization=acme, name="ci")
    api = client.post(
        f"/api/v1/m365/tenants/{tenant.pk}/sync?dry_run=true",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    ).json()
    client.force_login(alice)
    page = client.get(reverse("m365:sync_preview", args=[tenant.pk])).content.decode()

    assert not writes_since(ms, mark)
    assert [i.email for i in preview.items] == [dee.email]  # the account change
    groups = {item.email: item for item in preview.groups.items}
    assert groups["Ops"].action == "update" and groups["Ops"].members_added == [cy.email]
    assert groups["Ops"].members_removed == [ann.email]
    assert groups["Sales"].action == "create"
    assert sorted(groups["Sales"].members_added) == sorted([ben.email, dee.email])
    assert preview.groups.totals == {
        "groups": 2,
        "create": 1,
        "update": 1,
        "members_added": 3,
        "members_removed": 1,
    }
    assert api["groups"]["totals"] == preview.groups.totals
    assert {i["email"]: i["members_removed"] for i in api["groups"]["items"]} == {
        "Ops": [ann.email],
        "Sales": [],
    }
    assert "data-preview-groups" in page and f"Members removed: {ann.email}" in page
    assert f"Members added: {cy.email}" in page

    posted = []
    original = GraphClient.post

    def recording(self, path, body=None, **options):
        posted.append((path, json.loads(json.dumps(body))))
        return original(self, path, body, **options)

    monkeypatch.setattr(GraphClient, "post", recording)
    sent_batches.clear()
    sync(tenant)

    [(path, created)] = [(p, b) for p, b in posted if p == "/groups"]
    sales_members = {ref.rsplit("/", 1)[1] for ref in created["members@odata.bind"]}
    assert sales_members == {ids[ben.email], ids[dee.email]}
    ops_id = GroupBinding.objects.get(group=ops).microsoft_id
    member_writes = sorted(
        (method, url, (body or {}).get("@odata.id", "").rsplit("/", 1)[-1])
        for method, url, body in sent_batches
        if "/members/" in url
    )
    assert member_writes == [
        ("DELETE", f"/groups/{ops_id}/members/{ids[ann.email]}/$ref", ""),
        ("POST", f"/groups/{ops_id}/members/$ref", ids[cy.email]),
    ]
    assert not GroupBinding.objects.filter(needs_sync=True).exists()


def test_a_groups_members_whose_accounts_are_not_created_yet_are_named_as_waiting(
    acme, alice, ms, tenant
):
    eve = employee(acme, alice, ms, "eve")
    crew = directory_services.group_create(actor=alice, organization=acme, name="Crew")
    directory_services.group_member_add(actor=alice, group=crew, user=eve)
    services.users_bind(actor=alice, tenant=tenant, users=[eve])  # not synced yet
    services.group_bind(actor=alice, tenant=tenant, group=crew)

    [item] = services.tenant_sync_preview(tenant=tenant).groups.items

    assert item.action == "create" and item.members_added == []
    assert item.message == "1 more members are added once their Microsoft 365 accounts exist."
