"""Another organization's tenant is a 404 everywhere; a member gets no access."""

import pytest
from django.urls import reverse

from directory import services as directory_services

from .factories import tenant_row

CONSOLE_PAGES = ["m365:tenant", "m365:reauthorize", "m365:deauthorize", "m365:sync_preview"]
CONSOLE_POSTS = [
    "m365:check",
    "m365:reauthorize",
    "m365:deauthorize",
    "m365:held_release",
    "m365:held_discard",
    "m365:brake",
    "m365:retry_failed_groups",
]


@pytest.fixture
def acme_tenant(acme):
    return tenant_row(acme, "acme.onmicrosoft.com", "acme.example", name="Acme 365")


@pytest.mark.parametrize("name", CONSOLE_PAGES)
def test_charlie_gets_404_on_every_acme_tenant_page(client, charlie, acme_tenant, name):
    client.force_login(charlie)
    assert client.get(reverse(name, args=[acme_tenant.pk])).status_code == 404


@pytest.mark.parametrize("name", CONSOLE_POSTS)
def test_charlie_gets_404_posting_to_acme_tenants(client, charlie, acme_tenant, name):
    client.force_login(charlie)
    assert client.post(reverse(name, args=[acme_tenant.pk])).status_code == 404
    acme_tenant.refresh_from_db()
    assert acme_tenant.status == "connected"


def test_charlies_tenant_list_does_not_show_acmes(client, charlie, acme_tenant):
    client.force_login(charlie)
    response = client.get(reverse("m365:tenants"))
    assert response.status_code == 200
    assert b"Acme 365" not in response.content


@pytest.mark.parametrize("name", ["m365:tenants", "m365:connect", "m365:callback"])
def test_bob_the_member_gets_no_access_to_the_console_pages(client, bob, name):
    client.force_login(bob)
    assert client.get(reverse(name)).status_code == 403


def test_bob_the_member_cannot_open_or_deauthorize_a_tenant(client, bob, acme_tenant):
    client.force_login(bob)
    assert client.get(reverse("m365:tenant", args=[acme_tenant.pk])).status_code == 403
    assert client.post(reverse("m365:deauthorize", args=[acme_tenant.pk])).status_code == 403
    acme_tenant.refresh_from_db()
    assert acme_tenant.status == "connected"


@pytest.fixture
def globex_key(globex, charlie):
    _, secret = directory_services.api_key_create(actor=charlie, organization=globex, name="k")
    return secret


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("get", ""),
        ("post", "/deauthorize"),
        ("post", "/reauthorize"),
        ("get", "/held-blocks"),
        ("post", "/held-blocks/release"),
        ("post", "/held-blocks/discard"),
    ],
)
def test_charlies_api_key_gets_404_on_acme_tenant_endpoints(
    client, globex_key, acme_tenant, method, suffix
):
    url = f"/api/v1/m365/tenants/{acme_tenant.pk}{suffix}"
    response = getattr(client, method)(url, HTTP_AUTHORIZATION=f"Bearer {globex_key}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    acme_tenant.refresh_from_db()
    assert acme_tenant.status == "connected"


def test_charlies_api_key_lists_no_acme_tenant(client, globex_key, acme_tenant):
    response = client.get("/api/v1/m365/tenants", HTTP_AUTHORIZATION=f"Bearer {globex_key}")
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_bob_gets_no_access_to_the_api(client, bob, acme_tenant):
    client.force_login(bob)
    assert client.get("/api/v1/m365/tenants").status_code == 403
    assert client.post(f"/api/v1/m365/tenants/{acme_tenant.pk}/deauthorize").status_code == 403
