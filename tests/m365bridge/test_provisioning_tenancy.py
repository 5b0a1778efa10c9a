"""Charlie (another organization) gets 404 on every provisioning page and endpoint of
Acme's, and changes nothing; bob (a member) gets no access."""

import pytest
from django.urls import reverse

from directory import services as directory_services
from m365bridge import services
from m365bridge.models import UserBinding

from .factories import tenant_row

pytest_plugins = ["tests.m365bridge.provisioning"]


@pytest.fixture
def acme_tenant(acme, queued):
    return tenant_row(acme, "acme.example", name="Acme 365")


@pytest.fixture
def dana(acme, alice, acme_tenant):
    user = directory_services.user_create(
        actor=alice, organization=acme, email="dana@acme.example", send_activation=False
    )
    services.user_bind(actor=alice, tenant=acme_tenant, user=user)
    UserBinding.objects.filter(user=user).update(state="error", needs_sync=False)
    return user


def console_urls(tenant, user):
    binding = UserBinding.objects.get(user=user)
    return {
        "get": [
            reverse("m365:user_bind", args=[user.pk]),
            reverse("m365:user_unbind", args=[user.pk]),
            reverse("m365:tenant_status", args=[tenant.pk]),
        ],
        "post": [
            reverse("m365:user_bind", args=[user.pk]),
            reverse("m365:user_unbind", args=[user.pk]),
            reverse("m365:user_sync", args=[user.pk]),
            reverse("m365:binding_retry", args=[binding.pk]),
            reverse("m365:retry_failed", args=[tenant.pk]),
        ],
    }


def test_charlie_gets_404_on_every_acme_provisioning_page(client, charlie, acme_tenant, dana):
    client.force_login(charlie)
    urls = console_urls(acme_tenant, dana)
    for url in urls["get"]:
        assert client.get(url).status_code == 404, url
    for url in urls["post"]:
        assert client.post(url).status_code == 404, url
    binding = UserBinding.objects.get(user=dana)
    assert binding.bound and not binding.needs_sync and binding.state == "error"


def test_charlie_cannot_bulk_bind_acme_users(client, charlie, acme_tenant, dana):
    client.force_login(charlie)
    other = directory_services.user_create(
        actor=None, organization=dana.organization, email="erin@acme.example", send_activation=False
    )
    response = client.post(reverse("m365:users_bind"), {"user_ids": [other.pk], "confirm": "1"})
    assert response.status_code == 302  # nothing of Globex's was selected
    assert not UserBinding.objects.filter(user=other).exists()


@pytest.fixture
def globex_key(globex, charlie):
    _, secret = directory_services.api_key_create(actor=charlie, organization=globex, name="k")
    return secret


def test_charlies_api_key_gets_404_on_acme_binding_endpoints(client, globex_key, acme_tenant, dana):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {globex_key}"}
    base = f"/api/v1/m365/tenants/{acme_tenant.pk}/users"
    calls = [
        ("get", base, None),
        ("post", base, {"user_ids": [dana.pk]}),
        ("get", f"{base}/{dana.pk}", None),
        ("delete", f"{base}/{dana.pk}", None),
        ("post", f"{base}/{dana.pk}/sync", None),
    ]
    for method, url, data in calls:
        kwargs = {"content_type": "application/json"} if data else {}
        response = (
            getattr(client, method)(url, data, **kwargs, **auth)
            if data
            else getattr(client, method)(url, **auth)
        )
        assert response.status_code == 404, (method, url)
        assert response.json()["error"]["code"] == "not_found"
    binding = UserBinding.objects.get(user=dana)
    assert binding.bound and not binding.needs_sync


def test_bob_the_member_gets_no_access_to_binding(client, bob, acme_tenant, dana):
    client.force_login(bob)
    assert client.post(reverse("m365:user_bind", args=[dana.pk])).status_code == 403
    assert client.get(reverse("m365:tenant_status", args=[acme_tenant.pk])).status_code == 403
    response = client.post(
        f"/api/v1/m365/tenants/{acme_tenant.pk}/users",
        {"user_ids": [dana.pk]},
        content_type="application/json",
    )
    assert response.status_code == 403
