"""Sign-in audit (directory.signins): every console and portal sign-in is an event with
the address, the user agent, the factor and the outcome; unknown emails are counted per
address instead; people see and end their sessions; strangers cannot lock someone out."""

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Event
from directory.models import (
    KnownSignInAddress,
    SignInThrottle,
    UnknownEmailSignInTally,
    UserSession,
)
from tests.conftest import PASSWORD
from tests.support.mfa import totp_code

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"


def browser(address="10.0.0.1"):
    return Client(REMOTE_ADDR=address, HTTP_USER_AGENT=BROWSER)


def console_sign_in(client, email, password=PASSWORD):
    return client.post(reverse("console:login"), {"email": email, "password": password})


def portal_sign_in(client, email, password=PASSWORD):
    return client.post(reverse("portal:sign_in"), {"email": email, "password": password})


def test_a_console_sign_in_is_an_event_with_address_agent_and_factor(alice):
    client = browser()
    assert console_sign_in(client, alice.email).status_code == 302
    event = Event.objects.get(type="sign_in")
    assert (event.actor_id, event.outcome) == (alice.pk, "success")
    assert event.details == {
        "surface": "console",
        "mfa_method": "none",
        "address": "10.0.0.1",
        "user_agent": BROWSER,
    }
    assert UserSession.objects.get(user=alice).address == "10.0.0.1"
    assert KnownSignInAddress.objects.filter(user=alice, address="10.0.0.1").exists()


def test_a_wrong_password_is_a_failed_sign_in_event(bob):
    portal_sign_in(browser(), bob.email, "not-his-password")
    event = Event.objects.get(type="sign_in")
    assert (event.outcome, event.actor_id, event.target_id) == ("failure", None, str(bob.pk))
    assert event.details["reason"] == "password"
    assert event.details["surface"] == "portal"
    assert "not-his-password" not in str(event.details)


def test_unknown_emails_are_counted_per_address_not_one_event_each(db):
    client = browser("10.0.0.7")
    for n in range(3):
        portal_sign_in(client, f"nobody{n}@nowhere.example", "guess")
    assert not Event.objects.filter(type="sign_in").exists()
    tally = UnknownEmailSignInTally.objects.get(address="10.0.0.7")
    assert tally.failures == 3


def test_with_a_factor_the_sign_in_is_recorded_when_the_factor_is_passed(acme, alice):
    acme.mfa_required_for_admins = True
    acme.save()
    client = browser()
    console_sign_in(client, alice.email)
    client.get(reverse("portal:mfa_enrol"))
    device = TOTPDevice.objects.get(user=alice)
    client.post(reverse("portal:mfa_enrol"), {"code": totp_code(device)})
    client.post(reverse("console:logout"))
    before = Event.objects.filter(type="sign_in").count()
    console_sign_in(client, alice.email)
    assert Event.objects.filter(type="sign_in").count() == before
    client.post(reverse("portal:mfa_verify"), {"code": totp_code(device, steps_ahead=1)})
    event = Event.objects.filter(type="sign_in").latest("id")
    assert event.details["mfa_method"] == "totp"


def test_a_member_sees_their_sessions_and_signs_out_the_others(bob):
    laptop, phone = browser("10.0.0.1"), browser("10.0.0.2")
    portal_sign_in(laptop, bob.email)
    portal_sign_in(phone, bob.email)
    page = laptop.get(reverse("portal:mfa"))
    assert b"10.0.0.1" in page.content and b"10.0.0.2" in page.content
    assert b"(this browser)" in page.content
    laptop.post(reverse("portal:sessions_end_others"))
    assert laptop.get(reverse("portal:home")).status_code == 200
    assert phone.get(reverse("portal:home"))["Location"].startswith(reverse("portal:sign_in"))
    event = Event.objects.get(type="sessions_end")
    assert event.details == {"sessions": 1, "kept_current": True}


def test_signing_out_forgets_the_session(bob):
    client = browser()
    portal_sign_in(client, bob.email)
    client.post(reverse("portal:sign_out"))
    assert not UserSession.objects.filter(user=bob).exists()


def test_an_owner_ends_all_of_someones_sessions(alice, bob):
    phone = browser("10.0.0.2")
    portal_sign_in(phone, bob.email)
    owner = browser()
    console_sign_in(owner, alice.email)
    response = owner.post(reverse("console:user_sessions_end", args=[bob.pk]))
    assert response.status_code == 302
    assert phone.get(reverse("portal:home"))["Location"].startswith(reverse("portal:sign_in"))
    assert Event.objects.get(type="sessions_end").actor_id == alice.pk


@pytest.fixture
def quick_lock(settings):
    settings.PORTAL_SIGN_IN_THROTTLE = {
        SignInThrottle.ACCOUNT: {"free": 1, "lock_after": 3, "first_wait_seconds": 0},
    }


def test_strangers_cannot_lock_someone_out_of_an_address_they_used_before(quick_lock, alice):
    console_sign_in(browser("10.0.0.1"), alice.email)  # Alice's office
    stranger = browser("203.0.113.9")
    for _ in range(3):
        console_sign_in(stranger, alice.email, "guess")
    assert Event.objects.filter(type="user_sign_in_lock").exists()
    # The lock holds elsewhere, even with the right password ...
    assert console_sign_in(browser("203.0.113.10"), alice.email).status_code == 200
    # ... but not from the office.
    assert console_sign_in(browser("10.0.0.1"), alice.email).status_code == 302
