"""Service operators (staff without an organization) use Django's admin, where events
can be read but never changed."""

import pytest

from audit.models import Event
from directory.models import User


@pytest.fixture
def operator_client(client, db):
    client.force_login(User.objects.create_superuser("ops@stratus.example", "Op-Password-1234"))
    return client


@pytest.mark.parametrize(
    "path",
    [
        "directory/organization/",
        "directory/user/",
        "directory/group/",
        "directory/apikey/",
        "audit/event/",
    ],
)
def test_operators_can_browse_every_model(operator_client, bob, acme_key, engineers, path):
    assert operator_client.get(f"/django-admin/{path}").status_code == 200


def test_events_are_read_only_in_the_admin(operator_client, bob):
    event = Event.objects.filter(type="user_create").first()
    page = operator_client.get(f"/django-admin/audit/event/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert operator_client.get("/django-admin/audit/event/add/").status_code == 403
    assert (
        operator_client.post(
            f"/django-admin/audit/event/{event.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert Event.objects.filter(pk=event.pk).exists()


def test_the_admin_does_not_show_password_hashes(operator_client, bob):
    page = operator_client.get(f"/django-admin/directory/user/{bob.pk}/change/")
    assert page.status_code == 200
    assert b"argon2" not in page.content
