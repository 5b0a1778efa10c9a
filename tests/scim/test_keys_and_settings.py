"""SCIM keys: a key made for SCIM works only at /scim/v2/, every other key (those made
before scopes existed included) only at /api/v1/. And the organization's choice to bind
SCIM-created users to their domain's tenant, on the settings page."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from directory import services
from directory.models import ApiKey
from tests.api.helpers import key_client

from .conftest import PASSWORD, ScimClient, new_user, scim_error, scim_key


def test_a_scim_key_is_refused_by_the_rest_api(acme, alice):
    _, secret = scim_key(alice, acme)
    response = key_client(secret).get("/api/v1/users")
    assert response.status_code == 401
    assert "SCIM provisioning only" in response.json()["error"]["message"]


def test_a_rest_api_key_is_refused_by_scim(acme, alice):
    _, secret = services.api_key_create(actor=alice, organization=acme, name="script")
    response = ScimClient(secret).get("Users")
    assert response.status_code == 401
    assert "not a SCIM key" in scim_error(response)["detail"]


def test_a_key_made_before_scopes_keeps_rest_access_and_gets_no_scim(acme, alice):
    key, secret = services.api_key_create(actor=alice, organization=acme, name="old")
    ApiKey.objects.filter(pk=key.pk).update(scopes=[])
    assert key_client(secret).get("/api/v1/users").status_code == 200
    assert ScimClient(secret).get("Users").status_code == 401


@pytest.mark.parametrize("header", ["", "Bearer ", "Bearer stk_nope_nope", "Basic abc"])
def test_scim_without_a_valid_key_is_401_in_scim_shape(db, header):
    client = ScimClient("x")
    client.client.defaults["HTTP_AUTHORIZATION"] = header
    response = client.get("Users")
    assert response.status_code == 401
    scim_error(response)


def test_a_revoked_scim_key_stops_working(acme, alice):
    key, secret = scim_key(alice, acme)
    services.api_key_revoke(actor=alice, key=key)
    assert ScimClient(secret).get("Users").status_code == 401


def test_a_key_scope_must_be_known(acme, alice):
    with pytest.raises(services.InvalidInput) as caught:
        services.api_key_create(actor=alice, organization=acme, name="k", scope="root")
    assert caught.value.fields == {"scope": ["Must be one of: api, scim."]}


def test_the_console_makes_a_scim_key_that_works_only_for_scim(client, alice, acme):
    client.force_login(alice)
    response = client.post(reverse("console:api_keys"), {"name": "Workday", "scope": "scim"})
    content = response.content.decode()
    secret = content.split('<code id="new-key">')[1].split("</code>")[0]
    assert "/scim/v2/" in content
    assert ApiKey.objects.get(name="Workday").scopes == ["scim"]
    assert ScimClient(secret).get("Users").status_code == 200
    assert key_client(secret).get("/api/v1/users").status_code == 401
    listing = client.get(reverse("console:api_keys")).content.decode()
    assert "SCIM" in listing and secret not in listing


def test_the_settings_page_shows_and_saves_the_scim_binding_choice(client, alice, acme):
    client.force_login(alice)
    page = client.get(reverse("console:settings")).content.decode()
    assert "Bind new users to the Microsoft 365 tenant of their domain" in page
    response = client.post(
        reverse("console:settings"), {"section": "scim", "scim_bind_new_users": "on"}
    )
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.scim_bind_new_users is True
    assert Event.objects.filter(type="organization_scim_update", organization=acme).exists()
    client.post(reverse("console:settings"), {"section": "scim"})
    acme.refresh_from_db()
    assert acme.scim_bind_new_users is False


def test_the_scim_setting_does_not_touch_the_password_policy(client, alice, acme):
    client.force_login(alice)
    client.post(reverse("console:settings"), {"section": "scim", "scim_bind_new_users": "on"})
    acme.refresh_from_db()
    assert acme.password_min_length == 12


def test_manage_py_makes_a_scim_key(acme, alice):
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    call_command("scim_key_create", organization=acme.slug, name="Workday", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    assert ScimClient(secret).get("Users").status_code == 200
    assert ApiKey.objects.get(name="Workday").created_by == alice
    assert secret not in err.getvalue()


def test_manage_py_names_an_unknown_organization(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No organization with the slug 'nope'"):
        call_command("scim_key_create", organization="nope", name="x")


def test_a_console_key_made_without_choosing_is_a_rest_api_key(client, alice):
    client.force_login(alice)
    client.post(reverse("console:api_keys"), {"name": "Script"})
    assert ApiKey.objects.get(name="Script").scopes == ["api"]
    page = client.get(reverse("console:api_keys")).content.decode()
    assert 'name="scope"' in page and "SCIM provisioning" in page


def test_a_scim_write_names_the_key_in_its_event(acme, alice):
    key, secret = scim_key(alice, acme)
    response = ScimClient(secret).post("Users", new_user())
    assert response.status_code == 201
    event = Event.objects.get(type="user_create", target_label="dana@acme.example")
    assert (event.actor, event.api_key_id) == (alice, key.pk)
    assert event.api_key_label == f"HR sync (stk_{key.lookup}_…)"


def test_a_scim_key_stops_when_it_expires_or_its_creator_is_removed(acme, alice):
    owner = services.user_create(
        actor=alice, organization=acme, email="o@acme.example", role="owner", password=PASSWORD
    )
    key, secret = scim_key(owner, acme)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(days=1))
    expired = ScimClient(secret).get("Users")
    assert expired.status_code == 401
    assert scim_error(expired)["detail"].startswith("This API key expired on ")
    ApiKey.objects.filter(pk=key.pk).update(expires_at=None)
    services.user_delete(actor=alice, user=owner)
    removed = ScimClient(secret).get("Users")
    assert removed.status_code == 401
    assert "no longer a member" in scim_error(removed)["detail"]


def test_manage_py_makes_a_scim_key_that_expires(acme, alice):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "scim_key_create",
        organization=acme.slug,
        name="Workday",
        expires=date(2099, 6, 30),
        stdout=out,
        stderr=StringIO(),
    )
    key = ApiKey.objects.get(name="Workday")
    assert key.expires_at == datetime(2099, 6, 30, tzinfo=UTC)
    call_command(
        "scim_key_create",
        "--organization",
        acme.slug,
        "--name",
        "Later",
        "--expires",
        "2099-01-02",
        stdout=out,
        stderr=StringIO(),
    )
    assert ApiKey.objects.get(name="Later").expires_at == datetime(2099, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires", "message"),
    [("30/06/2027", "write it as YYYY-MM-DD"), ("2020-01-01", "must be in the future")],
)
def test_manage_py_names_a_bad_expiry(acme, alice, expires, message):
    from io import StringIO

    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=message):
        call_command(
            "scim_key_create",
            "--organization",
            acme.slug,
            "--name",
            "x",
            "--expires",
            expires,
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert not ApiKey.objects.exists()
