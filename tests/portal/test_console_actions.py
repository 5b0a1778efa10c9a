"""The admin's side of the account lifecycle, in the console (issue 7)."""

import pytest
from django.urls import reverse

from directory import lifecycle
from directory.models import SentEmail, User
from tests.conftest import PASSWORD

from .helpers import reload

ACTIONS = ["user_send_reset", "user_send_activation", "user_unlock"]


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_adding_a_user_sends_the_activation_email_by_default(
    alice_client, mailoutbox, django_capture_on_commit_callbacks
):
    page = alice_client.get(reverse("console:user_create")).content.decode()
    assert 'name="send_activation"' in page and "checked" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("console:user_create"),
            {"email": "erin@acme.example", "role": "member", "send_activation": "on"},
        )
    assert response.status_code == 302
    assert [m.to for m in mailoutbox] == [["erin@acme.example"]]
    detail = alice_client.get(response.url).content.decode()
    assert "activation email is on its way" in detail
    assert "Welcome and activation" in detail  # the "emails sent" list


def test_the_admin_can_add_a_user_without_the_email(
    alice_client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(
            reverse("console:user_create"), {"email": "erin@acme.example", "role": "member"}
        )
    assert User.objects.get(email="erin@acme.example").status == User.STAGED
    assert mailoutbox == []


def test_the_admin_resends_activation_to_a_staged_user(
    alice_client, staged, mailoutbox, django_capture_on_commit_callbacks
):
    url = reverse("console:user_send_activation", args=[staged.pk])
    assert alice_client.get(url).status_code == 200  # asks first
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(url)
    assert [m.to for m in mailoutbox] == [[staged.email]]
    assert SentEmail.objects.get(user=staged).sent_at is not None


def test_the_admin_sends_a_reset_link(
    alice_client, bob, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("console:user_send_reset", args=[bob.pk]))
    assert "/portal/reset/" in mailoutbox[0].body
    assert "An administrator of Acme sent you" in mailoutbox[0].body
    page = alice_client.get(response.url).content.decode()
    assert "A password reset link was sent" in page and "Password reset link" in page


def test_resending_activation_to_an_active_user_says_why_not(alice_client, bob, mailoutbox):
    response = alice_client.post(
        reverse("console:user_send_activation", args=[bob.pk]), follow=True
    )
    assert "already activated" in response.content.decode()
    assert mailoutbox == []


def test_a_temporary_password_must_be_changed_at_the_next_sign_in(alice_client, bob, client):
    alice_client.post(
        reverse("console:user_password", args=[bob.pk]),
        {"password": "Temporary-Pass-11", "confirm": "Temporary-Pass-11", "temporary": "on"},
    )
    assert reload(bob).must_change_password
    assert (
        "temporary"
        in alice_client.get(reverse("console:user_detail", args=[bob.pk])).content.decode()
    )
    alice_client.post(
        reverse("console:user_password", args=[bob.pk]),
        {"password": "Permanent-Pass-22", "confirm": "Permanent-Pass-22"},
    )
    assert not reload(bob).must_change_password


def test_the_admin_lifts_a_sign_in_lock(alice_client, bob, settings):
    settings.PORTAL_SIGN_IN_THROTTLE = {"account": {"free": 0, "lock_after": 1}}
    lifecycle.sign_in_attempt(email=bob.email, password="wrong", address="10.0.0.5")
    detail = reverse("console:user_detail", args=[bob.pk])
    assert "Unlock sign-in" in alice_client.get(detail).content.decode()
    alice_client.post(reverse("console:user_unlock", args=[bob.pk]))
    assert "Unlock sign-in" not in alice_client.get(detail).content.decode()
    result = lifecycle.sign_in_attempt(email=bob.email, password=PASSWORD, address="10.0.0.6")
    assert result.user == bob


@pytest.mark.parametrize("name", ACTIONS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_organizations_admin_gets_404(
    client, charlie, bob, staged, name, method, mailoutbox
):
    client.force_login(charlie)
    target = staged if name == "user_send_activation" else bob
    response = getattr(client, method)(reverse(f"console:{name}", args=[target.pk]))
    assert response.status_code == 404
    assert mailoutbox == [] and not SentEmail.objects.exists()


@pytest.mark.parametrize("name", ACTIONS)
def test_a_member_cannot_use_the_actions(client, bob, alice, name):
    client.force_login(bob)
    assert client.post(reverse(f"console:{name}", args=[alice.pk])).status_code == 403
    assert not SentEmail.objects.exists()


def test_an_admin_whose_password_expired_must_change_it_before_using_the_console(
    alice_client, alice, acme
):
    from datetime import timedelta

    from django.utils import timezone

    acme.password_max_age_days = 30
    acme.save()
    User.objects.filter(pk=alice.pk).update(password_changed_at=timezone.now() - timedelta(days=31))
    response = alice_client.get(reverse("console:users"))
    assert response.status_code == 302 and response.url == reverse("portal:password_change")


def test_an_admin_with_a_temporary_password_must_change_it_first(client, alice, bob):
    lifecycle.password_set_temporary(actor=bob, user=alice, password="Temporary-Pass-11")
    client.force_login(reload(alice))
    assert client.get(reverse("console:dashboard")).url == reverse("portal:password_change")
