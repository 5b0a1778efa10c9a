"""Who gets into the console: anonymous people sign in first, members and operators
without an organization see "no access", and another organization's objects are 404."""

import pytest
from django.urls import reverse

from directory.models import User

EVERY_PAGE = [
    "dashboard",
    "users",
    "user_create",
    "groups",
    "group_create",
    "settings",
    "api_keys",
    "events",
    "reauth",
]


@pytest.mark.parametrize("name", EVERY_PAGE)
def test_anonymous_visitors_are_sent_to_sign_in(client, db, name):
    url = reverse(f"console:{name}")
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('console:login')}?next={url}"


@pytest.mark.parametrize("name", EVERY_PAGE)
def test_a_member_gets_the_no_access_page(client, bob, name):
    client.force_login(bob)
    response = client.get(reverse(f"console:{name}"))
    assert response.status_code == 403
    assert b"No access to the console" in response.content
    assert b"Only admins and owners" in response.content


def test_a_member_cannot_change_anything_by_posting(client, bob, alice):
    client.force_login(bob)
    response = client.post(reverse("console:user_suspend", args=[alice.pk]))
    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.status == User.ACTIVE


def test_an_operator_without_organization_is_pointed_to_django_admin(client, db):
    operator = User.objects.create_superuser("ops@stratus.example", "Op-Password-1234")
    client.force_login(operator)
    response = client.get(reverse("console:dashboard"))
    assert response.status_code == 403
    assert b"/django-admin/" in response.content


def test_an_admin_gets_in_and_sees_only_their_organization(charlie_client, alice):
    response = charlie_client.get(reverse("console:users"))
    assert response.status_code == 200
    assert b"charlie@globex.example" in response.content
    assert b"alice@acme.example" not in response.content


# Every console URL that takes an object id, with the Acme objects it is tried on.
OBJECT_URLS = [
    ("user_detail", lambda o: [o["user"]]),
    ("user_edit", lambda o: [o["user"]]),
    ("user_password", lambda o: [o["user"]]),
    ("user_photo_edit", lambda o: [o["user"]]),
    ("user_suspend", lambda o: [o["user"]]),
    ("user_activate", lambda o: [o["user"]]),
    ("user_delete", lambda o: [o["user"]]),
    ("user_mfa_reset", lambda o: [o["user"]]),
    ("user_sessions_end", lambda o: [o["user"]]),
    ("group_detail", lambda o: [o["group"]]),
    ("group_edit", lambda o: [o["group"]]),
    ("group_delete", lambda o: [o["group"]]),
    ("group_member_add", lambda o: [o["group"]]),
    ("group_member_remove", lambda o: [o["group"], o["user"]]),
    ("api_key_revoke", lambda o: [o["key"]]),
]


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("name", "args"), OBJECT_URLS, ids=[n for n, _ in OBJECT_URLS])
def test_another_organizations_admin_gets_404_for_every_object_url(
    charlie_client, bob, engineers, acme_key, name, args, method
):
    objects = {"user": bob.pk, "group": engineers.pk, "key": acme_key.pk}
    url = reverse(f"console:{name}", args=args(objects))
    data = {"email": "bob@acme.example", "user": bob.pk, "name": "x", "password": "x"}
    response = getattr(charlie_client, method)(url, data if method == "post" else None)
    assert response.status_code == 404


def test_removing_a_foreign_user_from_your_own_group_is_404(charlie_client, globex, bob):
    from directory import services

    group = services.group_create(actor=None, organization=globex, name="Ops")
    url = reverse("console:group_member_remove", args=[group.pk, bob.pk])
    assert charlie_client.post(url).status_code == 404


def test_adding_a_foreign_user_to_your_own_group_is_refused(charlie_client, globex, bob):
    from directory import services

    group = services.group_create(actor=None, organization=globex, name="Ops")
    url = reverse("console:group_member_add", args=[group.pk])
    assert charlie_client.post(url, {"user": bob.pk}).status_code == 404
    response = charlie_client.post(url, {"email": "bob@acme.example"})
    assert response.status_code == 200
    assert b"No user of your organization has this email." in response.content
    assert not group.members.exists()


def test_every_change_needs_the_csrf_token(alice, bob):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(reverse("console:user_suspend", args=[bob.pk]))
    assert response.status_code == 403
    bob.refresh_from_db()
    assert bob.status == User.ACTIVE


@pytest.mark.parametrize(
    ("name", "args"),
    [(n, None) for n in EVERY_PAGE] + OBJECT_URLS,
    ids=[*EVERY_PAGE, *[n for n, _ in OBJECT_URLS]],
)
def test_every_console_page_opens_for_an_owner(alice_client, dave, engineers, acme_key, name, args):
    objects = {"user": dave.pk, "group": engineers.pk, "key": acme_key.pk}
    url = reverse(f"console:{name}", args=args(objects) if args else None)
    if name == "group_member_remove":
        from directory import services

        services.group_member_add(actor=None, group=engineers, user=dave)
    response = alice_client.get(url)
    assert response.status_code == 200
    assert b'aria-current="page"' in response.content  # its section is highlighted


# The webhooks pages (organization settings area, app `webhooks`), walked the same way.
WEBHOOK_PAGES = ["webhooks:list"]
WEBHOOK_OBJECT_URLS = [
    "webhooks:detail",
    "webhooks:rotate_secret",
    "webhooks:send_test",
    "webhooks:delete",
]


@pytest.fixture
def acme_webhook(acme, alice):
    from webhooks import services

    endpoint, _ = services.endpoint_create(
        actor=alice, organization=acme, url="https://siem.acme.example/"
    )
    return endpoint


@pytest.mark.parametrize("name", WEBHOOK_PAGES + WEBHOOK_OBJECT_URLS)
def test_webhook_pages_turn_away_anonymous_visitors_and_members(client, bob, acme_webhook, name):
    url = reverse(name, args=None if name in WEBHOOK_PAGES else [acme_webhook.pk])
    assert client.get(url).status_code == 302
    client.force_login(bob)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", WEBHOOK_OBJECT_URLS)
def test_another_organizations_admin_gets_404_for_every_webhook_url(
    charlie_client, acme_webhook, name, method
):
    url = reverse(name, args=[acme_webhook.pk])
    data = {"url": "https://evil.example/", "event_types": ""}
    response = getattr(charlie_client, method)(url, data if method == "post" else None)
    assert response.status_code == 404
    acme_webhook.refresh_from_db()  # still there, unchanged, nothing queued by charlie
    assert acme_webhook.url == "https://siem.acme.example/"
    assert not acme_webhook.deliveries.filter(event_type="webhook_test").exists()


def test_another_organizations_webhooks_are_not_listed(charlie_client, acme_webhook):
    response = charlie_client.get(reverse("webhooks:list"))
    assert response.status_code == 200
    assert b"siem.acme.example" not in response.content


@pytest.mark.parametrize("name", WEBHOOK_PAGES + WEBHOOK_OBJECT_URLS)
def test_every_webhook_page_opens_for_an_owner(alice_client, acme_webhook, name):
    url = reverse(name, args=None if name in WEBHOOK_PAGES else [acme_webhook.pk])
    response = alice_client.get(url)
    assert response.status_code == 200
    assert b'aria-current="page"' in response.content


def test_the_walk_covers_every_webhook_route():
    from django.urls import get_resolver

    walked = {name.split(":")[1] for name in WEBHOOK_PAGES + WEBHOOK_OBJECT_URLS}
    namespace = get_resolver().namespace_dict["webhooks"][1]
    routes = {pattern.name for pattern in namespace.url_patterns}
    assert routes == walked
