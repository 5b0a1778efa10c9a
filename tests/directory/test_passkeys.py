"""Passkeys (directory.passkeys, on py_webauthn) through the portal's JSON steps, with a
software authenticator: register, sign in, and the answers that must be refused."""

import json

import pytest
from django.urls import reverse
from webauthn.helpers import bytes_to_base64url

from audit.models import Event
from directory import mfa, recovery_codes
from directory.models import PasskeyDevice
from tests.conftest import PASSWORD
from tests.support.soft_authenticator import SoftAuthenticator

ORIGIN = "http://testserver"


@pytest.fixture
def acme_mfa(acme):
    acme.mfa_required_for_admins = True
    acme.save()
    return acme


def post_json(client, name, body=None, next_url=None):
    url = reverse(name) + (f"?next={next_url}" if next_url else "")
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def sign_in(client, email):
    response = client.post(reverse("console:login"), {"email": email, "password": PASSWORD})
    assert response.status_code == 302


def register(client, authenticator, next_url="/console/"):
    options = post_json(client, "portal:passkey_register_options").json()
    credential = authenticator.create(options)
    return post_json(
        client,
        "portal:passkey_register",
        {"credential": credential, "name": "Laptop"},
        next_url=next_url,
    )


@pytest.fixture
def alice_with_passkey(acme_mfa, alice):
    from django.test import Client

    client, authenticator = Client(), SoftAuthenticator(ORIGIN)
    sign_in(client, alice.email)
    response = register(client, authenticator)
    assert response.status_code == 200, response.content
    return authenticator


def test_an_admin_enrols_with_a_passkey_and_gets_recovery_codes(client, acme_mfa, alice):
    sign_in(client, alice.email)
    assert client.get("/console/").status_code == 302  # enrolment first
    response = register(client, SoftAuthenticator(ORIGIN), next_url="/console/users/")
    body = response.json()
    assert len(body["recovery_codes"]) == recovery_codes.RECOVERY_CODE_COUNT
    assert body["next"] == "/console/users/"
    assert client.get("/console/users/").status_code == 200
    device = PasskeyDevice.objects.get(user=alice)
    assert device.name == "Laptop" and device.transports == ["internal"]
    event = Event.objects.get(type="mfa_enrol")
    assert event.details == {"method": "passkey", "recovery_codes": 10}


def test_sign_in_with_a_passkey(client, alice_with_passkey, alice):
    sign_in(client, alice.email)
    assert client.get("/console/")["Location"].startswith(reverse("portal:mfa_verify"))
    assert b"Use a passkey" in client.get(reverse("portal:mfa_verify")).content
    options = post_json(client, "portal:passkey_sign_in_options").json()
    answer = alice_with_passkey.get(options)
    response = post_json(client, "portal:passkey_sign_in", {"credential": answer}, "/console/")
    assert response.status_code == 200, response.content
    assert response.json()["next"] == "/console/"
    assert client.get("/console/").status_code == 200
    event = Event.objects.filter(type="mfa_verify").latest("id")
    assert (event.outcome, event.details["method"]) == ("success", "passkey")
    assert PasskeyDevice.objects.get(user=alice).sign_count == 1


def test_an_answer_to_another_challenge_is_refused(client, alice_with_passkey, alice):
    sign_in(client, alice.email)
    old = post_json(client, "portal:passkey_sign_in_options").json()
    post_json(client, "portal:passkey_sign_in_options")  # a new challenge replaces it
    response = post_json(
        client, "portal:passkey_sign_in", {"credential": alice_with_passkey.get(old)}
    )
    assert response.status_code == 400
    assert client.get("/console/").status_code == 302
    assert Event.objects.filter(type="mfa_verify").latest("id").outcome == "failure"


def test_an_answer_is_used_once(client, alice_with_passkey, alice):
    sign_in(client, alice.email)
    options = post_json(client, "portal:passkey_sign_in_options").json()
    answer = alice_with_passkey.get(options)
    assert post_json(client, "portal:passkey_sign_in", {"credential": answer}).status_code == 200
    client.logout()
    sign_in(client, alice.email)
    assert post_json(client, "portal:passkey_sign_in", {"credential": answer}).status_code == 400
    assert client.get("/console/").status_code == 302


def test_a_signature_counter_that_does_not_move_forward_is_refused(
    client, alice_with_passkey, alice
):
    """A cloned key shows itself by repeating counter values."""
    PasskeyDevice.objects.filter(user=alice).update(sign_count=5)
    sign_in(client, alice.email)
    options = post_json(client, "portal:passkey_sign_in_options").json()
    answer = alice_with_passkey.get(options)  # counter 1, below 5
    assert post_json(client, "portal:passkey_sign_in", {"credential": answer}).status_code == 400


def test_a_passkey_answer_for_another_site_is_refused(client, acme_mfa, alice):
    sign_in(client, alice.email)
    options = post_json(client, "portal:passkey_register_options").json()
    credential = SoftAuthenticator("https://evil.example").create(options)
    response = post_json(client, "portal:passkey_register", {"credential": credential})
    assert response.status_code == 400
    assert not PasskeyDevice.objects.exists()


def test_a_password_alone_cannot_register_a_passkey(client, alice_with_passkey, alice):
    sign_in(client, alice.email)
    assert post_json(client, "portal:passkey_register_options").status_code == 403
    assert PasskeyDevice.objects.filter(user=alice).count() == 1


def test_another_persons_passkey_does_not_sign_you_in(client, alice_with_passkey, acme, bob):
    """An answer from Alice's passkey, to the challenge of Bob's session, is refused."""
    acme.mfa_required_for_everyone = True
    acme.save()
    client.force_login(bob)
    register(client, SoftAuthenticator(ORIGIN))
    client.logout()
    client.force_login(bob)
    options = post_json(client, "portal:passkey_sign_in_options").json()
    alice_id = next(iter(alice_with_passkey.credentials))
    options["allowCredentials"] = [{"id": bytes_to_base64url(alice_id), "type": "public-key"}]
    answer = alice_with_passkey.get(options)
    assert post_json(client, "portal:passkey_sign_in", {"credential": answer}).status_code == 400
    assert client.get(reverse("portal:home")).status_code == 302


def test_an_owners_reset_removes_passkeys(alice_with_passkey, acme, alice, bob):
    from django.test import Client

    acme.mfa_required_for_everyone = True
    acme.save()
    client = Client()
    client.force_login(bob)
    register(client, SoftAuthenticator(ORIGIN))
    mfa.mfa_reset(actor=alice, user=bob)
    assert not PasskeyDevice.objects.filter(user=bob).exists()


@pytest.mark.parametrize("credential", ["x", 7, None, {"rawId": "!!", "response": {}}])
def test_a_malformed_answer_is_a_400_not_a_500(client, alice_with_passkey, alice, credential):
    sign_in(client, alice.email)
    post_json(client, "portal:passkey_sign_in_options")
    response = post_json(client, "portal:passkey_sign_in", {"credential": credential})
    assert response.status_code == 400
    assert client.get("/console/").status_code == 302


def passwordless(client, authenticator, next_url="/console/"):
    options = post_json(client, "portal:passkey_passwordless_options").json()
    assert options.get("allowCredentials", []) == []
    answer = authenticator.get(options)
    return post_json(client, "portal:passkey_passwordless", {"credential": answer}, next_url)


def test_sign_in_with_a_passkey_alone(client, alice_with_passkey, alice):
    assert b"Sign in with a passkey" in client.get(reverse("console:login")).content
    response = passwordless(client, alice_with_passkey)
    assert response.status_code == 200, response.content
    assert response.json()["next"] == "/console/"
    assert client.get("/console/").status_code == 200  # both factors: the passkey
    event = Event.objects.filter(type="sign_in").latest("id")
    assert (event.actor_id, event.details["mfa_method"]) == (alice.pk, "passkey")


def test_a_locked_account_still_signs_in_with_its_passkey(settings, alice_with_passkey, alice):
    """From an address where the lock applies (not one Alice signed in from before)."""
    from django.test import Client

    client = Client(REMOTE_ADDR="203.0.113.5")
    settings.PORTAL_SIGN_IN_THROTTLE = {"account": {"free": 0, "lock_after": 1}}
    client.post(reverse("console:login"), {"email": alice.email, "password": "guess"})
    locked = client.post(reverse("console:login"), {"email": alice.email, "password": PASSWORD})
    assert locked.status_code == 200  # the password is refused while locked
    assert passwordless(client, alice_with_passkey).status_code == 200
    assert client.get("/console/").status_code == 200


def test_a_suspended_persons_passkey_does_not_sign_in(client, alice_with_passkey, acme, alice):
    from directory.models import User

    User.objects.filter(pk=alice.pk).update(status=User.SUSPENDED)
    assert passwordless(client, alice_with_passkey).status_code == 400
    assert client.get("/console/").status_code == 302


def test_an_unknown_passkey_does_not_sign_in(client, acme_mfa, alice):
    stranger = SoftAuthenticator(ORIGIN)
    stranger.create({"rp": {"id": "testserver"}, "challenge": "AAAA"})
    assert passwordless(client, stranger).status_code == 400


def _signed_in_with_passkey(client, authenticator, email):
    sign_in(client, email)
    options = post_json(client, "portal:passkey_sign_in_options").json()
    answer = authenticator.get(options)
    assert post_json(client, "portal:passkey_sign_in", {"credential": answer}).status_code == 200


def _stale(client):
    from directory import reauth

    session = client.session
    session[reauth.SESSION_KEY] -= 6 * 60
    session.save()


def test_the_confirm_it_is_you_page_accepts_a_passkey(client, alice_with_passkey, alice):
    from directory.models import ApiKey

    _signed_in_with_passkey(client, alice_with_passkey, alice.email)
    _stale(client)
    keys = reverse("console:api_keys")
    asked = client.post(keys, {"name": "HR sync"})
    assert asked.status_code == 302 and asked["Location"].startswith(reverse("console:reauth"))
    page = client.get(asked["Location"]).content.decode()
    assert "Use a passkey" in page and reverse("console:reauth_passkey") in page
    options = post_json(client, "portal:passkey_sign_in_options").json()
    answer = alice_with_passkey.get(options)
    done = post_json(client, "console:reauth_passkey", {"credential": answer}, next_url=keys)
    assert done.status_code == 200, done.content
    assert done.json()["next"] == keys
    assert client.post(keys, {"name": "HR sync"}).status_code == 200
    assert ApiKey.objects.filter(name="HR sync").exists()


def test_a_refused_passkey_leaves_the_check_stale(client, alice_with_passkey, alice):
    from directory.models import ApiKey

    _signed_in_with_passkey(client, alice_with_passkey, alice.email)
    _stale(client)
    old = post_json(client, "portal:passkey_sign_in_options").json()
    post_json(client, "portal:passkey_sign_in_options")  # a new challenge replaces it
    refused = post_json(
        client, "console:reauth_passkey", {"credential": alice_with_passkey.get(old)}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"credential": [refused.json()["error"]["message"]]}
    assert client.post(reverse("console:api_keys"), {"name": "x"}).status_code == 302
    assert not ApiKey.objects.exists()


def test_the_confirm_page_offers_no_passkey_to_someone_without_one(client, acme, alice):
    client.force_login(alice)
    page = client.get(reverse("console:reauth")).content.decode()
    assert "Use a passkey" not in page
