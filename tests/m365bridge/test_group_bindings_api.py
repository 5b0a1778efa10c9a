"""Group bindings through the REST API (list, bind, read, retry, unbind, dry run) with
the users API's error shape, and Retry / Retry all failed groups in the console."""

import pytest
from django.urls import reverse

from directory import services as directory_services
from m365bridge import services
from m365bridge.models import GroupBinding

from .provisioning import graph_log, log_mark

pytest_plugins = ["tests.m365bridge.provisioning"]


@pytest.fixture
def auth(acme, alice):
    _, secret = directory_services.api_key_create(actor=alice, organization=acme, name="ci")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def ops(acme, alice):
    return directory_services.group_create(actor=alice, organization=acme, name="Ops")


def test_list_bind_read_retry_and_unbind_a_group(client, auth, tenant, ops, queued):
    base = f"/api/v1/m365/tenants/{tenant.pk}/groups"
    assert client.get(base, **auth).json()["results"] == []

    created = client.post(base, {"group_id": ops.pk}, content_type="application/json", **auth)
    assert created.status_code == 201
    assert created.json()["name"] == "Ops" and created.json()["state"] == "pending"
    again = client.post(base, {"group_id": ops.pk}, content_type="application/json", **auth)
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert GroupBinding.objects.count() == 1
    assert [b["group_id"] for b in client.get(base, **auth).json()["results"]] == [ops.pk]

    GroupBinding.objects.update(state="error", needs_sync=False, last_error_message="Refused")
    one = client.get(f"{base}/{ops.pk}", **auth).json()
    assert one["last_error"]["message"] == "Refused"
    retried = client.post(f"{base}/{ops.pk}/sync", **auth)
    assert retried.status_code == 202 and retried.json()["changes_pending"] is True

    assert client.delete(f"{base}/{ops.pk}", **auth).status_code == 204
    gone = client.get(f"{base}/{ops.pk}", **auth)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_bad_group_input_gets_the_error_shape(client, auth, tenant, globex, charlie, queued):
    base = f"/api/v1/m365/tenants/{tenant.pk}/groups"
    missing = client.post(base, {}, content_type="application/json", **auth)
    assert missing.status_code == 400 and "group_id" in missing.json()["error"]["fields"]
    theirs = directory_services.group_create(actor=charlie, organization=globex, name="G")
    foreign = client.post(base, {"group_id": theirs.pk}, content_type="application/json", **auth)
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "not_found"
    assert not GroupBinding.objects.exists()


def test_dry_run_of_a_group_bind_writes_nothing(client, auth, ms, tenant, ops):
    mark = log_mark(ms)
    url = f"/api/v1/m365/tenants/{tenant.pk}/groups?dry_run=true"
    plan = client.post(url, {"group_id": ops.pk}, content_type="application/json", **auth)
    assert plan.status_code == 200
    assert plan.json()["totals"] == {
        "groups": 1,
        "create": 1,
        "members_added": 0,
        "members_removed": 0,
    }
    assert not GroupBinding.objects.exists()
    assert not [r for r in graph_log(ms, mark) if r["write"]]


def test_another_organizations_key_gets_404_on_every_group_endpoint(
    client, tenant, ops, globex, charlie, queued
):
    services.group_bind(actor=None, tenant=tenant, group=ops)
    _, secret = directory_services.api_key_create(actor=charlie, organization=globex, name="k")
    theirs = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    base = f"/api/v1/m365/tenants/{tenant.pk}/groups"
    for method, url in [
        ("get", base),
        ("post", base),
        ("get", f"{base}/{ops.pk}"),
        ("delete", f"{base}/{ops.pk}"),
        ("post", f"{base}/{ops.pk}/sync"),
    ]:
        response = getattr(client, method)(
            url, {"group_id": ops.pk}, content_type="application/json", **theirs
        )
        assert response.status_code == 404, (method, url)
        assert response.json()["error"]["code"] == "not_found"
    assert GroupBinding.objects.filter(needs_sync=True).count() == 1


def test_the_console_retries_one_group_and_all_failed_groups(client, alice, tenant, ops, queued):
    services.group_bind(actor=alice, tenant=tenant, group=ops)
    GroupBinding.objects.update(state="error", needs_sync=False, last_error_message="Refused")
    client.force_login(alice)

    page = client.get(reverse("m365:tenant", args=[tenant.pk])).content.decode()
    assert "data-retry-failed-groups" in page and "Refused" in page
    client.post(reverse("m365:retry_failed_groups", args=[tenant.pk]))
    assert GroupBinding.objects.get().needs_sync

    GroupBinding.objects.update(needs_sync=False)
    group_page = client.get(reverse("console:group_detail", args=[ops.pk])).content.decode()
    assert "data-group-retry" in group_page
    binding = GroupBinding.objects.get()
    client.post(reverse("m365:group_binding_retry", args=[binding.pk]))
    assert GroupBinding.objects.get().needs_sync


def test_another_organizations_admin_gets_404_retrying_a_group_in_the_console(
    client, charlie, tenant, ops, queued
):
    binding = services.group_bind(actor=None, tenant=tenant, group=ops)
    GroupBinding.objects.update(needs_sync=False)
    client.force_login(charlie)
    assert client.post(reverse("m365:group_binding_retry", args=[binding.pk])).status_code == 404
    assert client.post(reverse("m365:retry_failed_groups", args=[tenant.pk])).status_code == 404
    url = reverse("m365:group_bind", args=[ops.pk])
    assert client.get(url, {"preview": tenant.pk}).status_code == 404
    assert not GroupBinding.objects.get().needs_sync
