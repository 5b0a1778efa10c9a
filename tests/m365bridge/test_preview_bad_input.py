"""Bad input to the previews and the brake through the API: each a clear error naming
the field (or a 404 for another organization's objects), nothing read from or written to
Microsoft, nothing saved."""

import pytest

from directory import services as directory_services
from directory.errors import InvalidInput
from m365bridge import services
from m365bridge.models import DeprovisionBrake, GroupBinding, UserBinding

from .provisioning import employee, graph_log, log_mark

pytest_plugins = ["tests.m365bridge.provisioning"]


@pytest.fixture
def auth(acme, alice):
    _, secret = directory_services.api_key_create(actor=alice, organization=acme, name="ci")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def _post(client, url, body, auth):
    return client.post(url, body, content_type="application/json", **auth)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"user_ids": []}, "This list may not be empty."),
        ({}, "This field is required."),
        ({"user_ids": ["x"]}, "A valid integer is required."),
        ({"user_ids": list(range(1, 5002))}, "Ensure this field has no more than 5000 elements."),
    ],
    ids=["no users", "missing", "not a number", "too many"],
)
def test_a_bind_preview_of_no_user_or_bad_ids_names_user_ids(
    client, auth, ms, tenant, body, message
):
    mark = log_mark(ms)
    response = _post(client, f"/api/v1/m365/tenants/{tenant.pk}/users?dry_run=true", body, auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and message in " ".join(error["fields"]["user_ids"])
    assert graph_log(ms, mark) == [] and not UserBinding.objects.exists()


def test_a_preview_of_more_than_5000_users_is_refused_by_the_service(acme, alice, tenant):
    many = [alice] * 5001
    with pytest.raises(InvalidInput) as refused:
        services.users_bind_preview(tenant=tenant, users=many)
    assert refused.value.fields == {"user_ids": ["Preview at most 5000 users at once."]}


def test_a_preview_naming_another_organizations_user_names_it_and_reads_nothing(
    client, auth, acme, alice, ms, tenant, charlie
):
    ours = employee(acme, alice, ms, "olive")
    mark = log_mark(ms)
    response = _post(
        client,
        f"/api/v1/m365/tenants/{tenant.pk}/users?dry_run=true",
        {"user_ids": [ours.pk, charlie.pk]},
        auth,
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["user_ids"] == [
        f"No such user in your organization: {charlie.pk}."
    ]
    assert charlie.email not in response.content.decode()
    assert graph_log(ms, mark) == [] and not UserBinding.objects.exists()


def test_a_group_preview_of_another_organizations_group_is_a_404(
    client, auth, ms, tenant, globex, charlie
):
    theirs = directory_services.group_create(actor=charlie, organization=globex, name="Theirs")
    mark = log_mark(ms)
    response = _post(
        client,
        f"/api/v1/m365/tenants/{tenant.pk}/groups?dry_run=true",
        {"group_id": theirs.pk},
        auth,
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert "Theirs" not in response.content.decode()
    assert graph_log(ms, mark) == [] and not GroupBinding.objects.exists()


def test_another_organizations_key_cannot_preview_a_tenants_sync(
    client, acme, alice, ms, tenant, globex, charlie
):
    services.users_bind(actor=alice, tenant=tenant, users=[employee(acme, alice, ms, "pia")])
    _, secret = directory_services.api_key_create(actor=charlie, organization=globex, name="k")
    mark = log_mark(ms)
    response = client.post(
        f"/api/v1/m365/tenants/{tenant.pk}/sync?dry_run=true",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert graph_log(ms, mark) == []


def test_a_sync_preview_with_nothing_waiting_is_empty_and_reads_nothing(client, auth, ms, tenant):
    mark = log_mark(ms)
    body = client.post(f"/api/v1/m365/tenants/{tenant.pk}/sync?dry_run=true", **auth).json()
    assert body["totals"] == {"accounts": 0} and body["items"] == [] and body["groups"] is None
    assert body["reads"] == 0 and graph_log(ms, mark) == []


def test_releasing_or_discarding_with_nothing_held_is_a_409_and_no_event(
    client, auth, tenant, queued
):
    from audit.models import Event

    for action in ("release", "discard"):
        response = client.post(f"/api/v1/m365/tenants/{tenant.pk}/held-blocks/{action}", **auth)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "nothing_held"
    assert not Event.objects.filter(type__startswith="m365_held_blocks").exists()
    assert queued == []  # no sync asked for
    assert not DeprovisionBrake.objects.filter(tenant=tenant, engaged_at__isnull=False).exists()
