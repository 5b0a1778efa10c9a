"""Helpdesk and read-only, walked over every console route with every method: what the
table in directory/roles.py allows opens (or is 404/405 for an object or a method that is
not there), everything else is the "not for your role" page (403) and changes nothing.
Routes are read from the URL configuration: a new route is walked without being listed."""

import pytest
from django.urls import resolve

from directory import services
from directory.models import User
from tests.conftest import PASSWORD

from .test_mfa_policy import concrete, console_routes

HELPDESK_READS = {
    "console:dashboard",
    "console:users",
    "console:user_detail",
    "console:user_photo",
    "console:groups",
    "console:group_detail",
}
HELPDESK_ACTIONS = {
    "console:user_password",
    "console:user_send_reset",
    "console:user_send_activation",
    "console:user_unlock",
    "console:reauth",
    "console:reauth_passkey",
}


def helpdesk_may(view_name: str, method: str) -> bool:
    return view_name in HELPDESK_ACTIONS or (method == "get" and view_name in HELPDESK_READS)


def read_only_may(view_name: str, method: str) -> bool:
    if view_name in ("console:reauth", "console:reauth_passkey"):
        return True
    return method == "get" and view_name != "m365:callback"


EXPECTED = {User.HELPDESK: helpdesk_may, User.READ_ONLY: read_only_may}


@pytest.fixture
def member_of_role(acme, alice):
    def make(role):
        return services.user_create(
            actor=alice,
            organization=acme,
            email=f"{role}@acme.example",
            role=role,
            password=PASSWORD,
        )

    return make


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("role", [User.HELPDESK, User.READ_ONLY])
@pytest.mark.parametrize("route", console_routes())
def test_every_console_route_with_every_narrow_role(
    client, member_of_role, bob, route, role, method
):
    client.force_login(member_of_role(role))
    path = concrete(route).replace("/1/", f"/{bob.pk}/")
    view_name = resolve(path).view_name
    response = getattr(client, method)(path)
    refused = response.status_code == 403 and b"Not for your role" in response.content
    if EXPECTED[role](view_name, method):
        assert not refused, route
        assert response.status_code != 302 or "/sign-in/" not in response["Location"]
    else:  # refused, or a method the page does not take (405 before anything runs)
        assert refused or response.status_code == 405, (route, response.status_code)


def test_read_only_cannot_delete_but_helpdesk_sends_a_reset_link(
    client, member_of_role, bob, django_capture_on_commit_callbacks
):
    client.force_login(member_of_role(User.READ_ONLY))
    client.post(f"/console/users/{bob.pk}/delete/")
    assert User.objects.filter(pk=bob.pk).exists()
    client.force_login(member_of_role(User.HELPDESK))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/console/users/{bob.pk}/send-reset/")
    assert response.status_code == 302
    assert bob.account_tokens.filter(purpose="reset").exists()


def test_narrow_roles_get_in_and_members_still_do_not(client, member_of_role, bob):
    client.force_login(member_of_role(User.HELPDESK))
    assert client.get("/console/users/").status_code == 200
    client.force_login(bob)
    assert client.get("/console/users/").status_code == 403
