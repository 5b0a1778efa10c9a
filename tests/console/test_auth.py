from django.urls import reverse

from directory.models import User
from tests.conftest import PASSWORD

from .conftest import field_errors


def test_sign_in_with_email_and_password_opens_the_dashboard(client, alice):
    response = client.post(
        reverse("console:login"), {"email": "ALICE@acme.example", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("console:dashboard")
    assert client.get(reverse("console:dashboard")).status_code == 200


def test_sign_in_returns_to_the_page_asked_for(client, alice):
    response = client.post(
        reverse("console:login") + "?next=/console/groups/",
        {"email": alice.email, "password": PASSWORD},
    )
    assert response["Location"] == "/console/groups/"


def test_sign_in_ignores_a_next_url_on_another_site(client, alice):
    response = client.post(
        reverse("console:login"),
        {"email": alice.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("console:dashboard")


def test_a_wrong_password_is_refused_with_a_message(client, alice):
    response = client.post(reverse("console:login"), {"email": alice.email, "password": "nope"})
    assert response.status_code == 200
    assert b"The email or password is not right" in response.content
    assert "_auth_user_id" not in client.session


def test_a_suspended_user_cannot_sign_in(client, alice, dave):
    from directory import services

    services.user_set_password(actor=alice, user=dave, password=PASSWORD)
    services.user_suspend(actor=alice, user=dave)
    response = client.post(reverse("console:login"), {"email": dave.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_sign_in_shows_field_errors(client, db):
    response = client.post(reverse("console:login"), {"email": "not-an-email", "password": ""})
    assert b"Enter a valid email address." in response.content
    assert b"This field is required." in response.content


def test_a_member_who_signs_in_sees_no_access(client, bob):
    response = client.post(
        reverse("console:login"), {"email": bob.email, "password": PASSWORD}, follow=True
    )
    assert response.status_code == 403
    assert b"No access to the console" in response.content


def test_sign_out_needs_a_post_and_ends_the_session(alice_client):
    assert alice_client.get(reverse("console:logout")).status_code == 405
    response = alice_client.post(reverse("console:logout"), follow=True)
    assert b"You are signed out." in response.content
    assert alice_client.get(reverse("console:dashboard")).status_code == 302


def test_sign_up_refuses_a_missing_organization_name(client, db):
    response = client.post(reverse("console:signup"), {"name": "", "email": "peter@x.example"})
    assert response.status_code == 200
    assert field_errors(response, "name") == ["This field is required."]
    assert not User.objects.filter(email="peter@x.example").exists()


def test_repeated_failed_console_sign_ins_lock_the_account_like_the_portal(client, alice, settings):
    settings.PORTAL_SIGN_IN_THROTTLE = {
        "account": {"free": 1, "lock_after": 2, "lock_seconds": 600, "first_wait_seconds": 30},
        "address": {"free": 20, "lock_after": 50, "lock_seconds": 600},
    }
    for _ in range(2):
        client.post(reverse("console:login"), {"email": alice.email, "password": "wrong"})
    response = client.post(reverse("console:login"), {"email": alice.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "Too many failed sign-ins. Try again in" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_throttled_address_is_the_one_the_trusted_proxy_saw(rf, settings):
    from directory.lifecycle import client_address

    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9", REMOTE_ADDR="10.0.0.2")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request) == "10.0.0.2"  # a client cannot pick its own address
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(request) == "203.0.113.9"
